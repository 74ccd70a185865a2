"""Small file helpers shared by the data build, training and the pretrained/ checks."""
import hashlib


def sha256_of(path):
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks (checkpoints, archives)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
