"""Training-step speed: MindSpore graph mode against PyTorch CPU eager, same network.

    python benchmarks/benchmark_train.py [--config_path configs/asconvsr_x2.yaml]
        [--shapes 16x64,32x128] [--runs 10] [--warmup 3] [--no_torch] [--real_data DIR]
        [--real_lr_dir DIR] [--feeders 0,2] [--min_texture T]

For each batch x LR-patch shape: the median step time (Charbonnier + Adam, forward and
backward) after warm-up, samples/s, MACs per step (3 x forward MACs: forward, input
gradient, weight gradient) and the achieved GMAC/s. With PyTorch installed (not a
project requirement: ``pip install torch==2.13.0``) the same network with the same
weights runs as the peer: its forward is first checked allclose to MindSpore's, then
timed, and the ratio MindSpore / PyTorch is printed. ``--real_data`` also times the
step fed by the real data pipeline (src/data) against synthetic tensors, once per
``--feeders`` value (0: batches made by a thread of the training process, the CPU
default; N: N mindspore.dataset workers); ``--real_lr_dir`` reads LR patches from a
folder (the path the shipped checkpoints' runs used) instead of making them.
"""
import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore)
from benchmarks.timing import cpu_name, median_seconds  # noqa: E402


def mindspore_step(cfg, batch, patch):
    import numpy as np
    from mindspore import Tensor
    from src.engine.train_step import build_train_step
    from src.model.asconvsr import AsConvSRConfig, build_model
    net = build_model(AsConvSRConfig.from_dict(cfg))
    train_step, _ = build_train_step(net, cfg)
    rng = np.random.default_rng(0)
    lr = rng.random((batch, 3, patch, patch), dtype=np.float32)
    hr = rng.random((batch, 3, patch * cfg.scale, patch * cfg.scale), dtype=np.float32)
    lr_t, hr_t = Tensor(lr), Tensor(hr)
    return net, lambda: train_step(lr_t, hr_t).asnumpy(), (lr, hr)


def torch_step(cfg, model_cfg, ms_net, lr, hr):
    """PyTorch twin with ms_net's weights; checks the forward matches, returns a step fn."""
    import numpy as np
    import torch
    from mindspore import Tensor
    from benchmarks.torch_asconvsr import charbonnier, from_mindspore
    net = from_mindspore(ms_net, model_cfg)
    probe = lr[:2]
    with torch.no_grad():
        torch_out = net(torch.from_numpy(probe)).numpy()
    ms_out = ms_net(Tensor(probe)).asnumpy()
    diff = float(np.abs(torch_out - ms_out).max())
    if not np.allclose(torch_out, ms_out, rtol=1e-4, atol=1e-4):
        raise SystemExit(f"PyTorch twin differs from MindSpore (max abs diff {diff:.2e}); "
                         f"not timing different functions")
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    lr_t, hr_t = torch.from_numpy(lr), torch.from_numpy(hr)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = charbonnier(net(lr_t), hr_t, cfg.charbonnier_eps)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step, diff


def fed_step_time(cfg, batch, patch, data_dir, runs, warmup, lr_dir, num_workers, min_texture):
    """Median step time when batches come from the real data pipeline: made in the
    training process (``num_workers`` 0) or by that many mindspore.dataset workers;
    LR images made at start-up by MATLAB bicubic or read from ``lr_dir``."""
    from src.data.dataset import create_train_batches
    from src.engine.train_step import build_train_step
    from src.model.asconvsr import AsConvSRConfig, build_model
    net = build_model(AsConvSRConfig.from_dict(cfg))
    train_step, _ = build_train_step(net, cfg)
    batches = create_train_batches(data_dir, cfg.scale, patch, batch, lr_dir=lr_dir,
                                   num_workers=num_workers, seed=0, min_texture=min_texture)
    elapsed = median_seconds(lambda: train_step(*next(batches)).asnumpy(), warmup, runs)
    batches.close()
    return elapsed


def feeder_name(num_workers):
    return ("in-process thread" if num_workers == 0
            else f"{num_workers} dataset worker{'s' if num_workers > 1 else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default="configs/asconvsr_x2.yaml")
    parser.add_argument("--shapes", default="16x64,32x128", help="BATCHxLR_PATCH list")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no_torch", action="store_true")
    parser.add_argument("--real_data", default=None, help="HR folder to time the fed step")
    parser.add_argument("--real_lr_dir", default=None,
                        help="with --real_data: LR patches from this folder (scripts/make_lr.py "
                             "output) instead of downscaling the HR images at start-up")
    parser.add_argument("--feeders", default="0,2",
                        help="with --real_data: num_workers values to time the fed step with "
                             "(0: in-process thread, the CPU default; N: N dataset workers)")
    parser.add_argument("--min_texture", type=float, default=None,
                        help="with --real_data: flat-patch redraw threshold (default: the "
                             "config's min_patch_texture)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()

    from src.config import load_config
    from src.model.complexity import count_macs
    from src.model.asconvsr import AsConvSRConfig
    from src.runtime import setup
    cfg = load_config(args.config_path)
    ms = setup("CPU", "graph", seed=0)
    use_torch = not args.no_torch
    if use_torch:
        try:
            import torch
            if args.threads:
                torch.set_num_threads(args.threads)
        except ImportError:
            print("(PyTorch not installed: pip install torch==2.13.0 for the peer column)")
            use_torch = False
    print(f"# training step benchmark, {datetime.date.today()}, {cpu_name()}, "
          f"{os.cpu_count()} cpus, mindspore {ms.__version__}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if use_torch else "")
          + f", ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}")
    print(f"# {args.config_path}, median of {args.runs} after {args.warmup} warm-up steps")
    header = "| batch x LR patch | MindSpore step (s) | samples/s | GMAC/step | GMAC/s |"
    header += " PyTorch step (s) | MindSpore / PyTorch |" if use_torch else ""
    feeders = [int(v) for v in args.feeders.split(",")] if args.real_data else []
    min_texture = cfg.min_patch_texture if args.min_texture is None else args.min_texture
    if args.real_data:
        print(f"# fed columns: {args.real_data}, LR "
              f"{'from ' + args.real_lr_dir if args.real_lr_dir else 'made at start-up'}, "
              f"min_texture {min_texture}; the ratio is fed / synthetic")
    for workers in feeders:
        header += f" fed, {feeder_name(workers)} (s) | fed / synthetic |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    model_cfg = AsConvSRConfig.from_dict(cfg)
    for shape in args.shapes.split(","):
        batch, patch = (int(v) for v in shape.lower().split("x"))
        net, step, (lr, hr) = mindspore_step(cfg, batch, patch)
        ms_time = median_seconds(step, args.warmup, args.runs)
        gmac = 3 * batch * count_macs(model_cfg, patch, patch) / 1e9
        row = (f"| {batch} x {patch} | {ms_time:.4f} | {batch / ms_time:.1f} | {gmac:.2f} | "
               f"{gmac / ms_time:.1f} |")
        if use_torch:
            t_step, diff = torch_step(cfg, model_cfg, net, lr, hr)
            t_time = median_seconds(t_step, args.warmup, args.runs)
            row += f" {t_time:.4f} | {ms_time / t_time:.2f}x |"
        for workers in feeders:
            fed = fed_step_time(cfg, batch, patch, args.real_data, args.runs, args.warmup,
                                args.real_lr_dir, workers, min_texture)
            row += f" {fed:.4f} | {fed / ms_time:.2f}x |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
