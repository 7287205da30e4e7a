#!/usr/bin/python3
"""PyTorch baseline for rhonet's benchmarks: the same nets, data, hyperparameters
and thread counts as bench/rhonet_bench, timed per epoch, per inference pass and per small-batch call (latency).

  compare_pytorch.py [--threads 1,2] [--widths 256,512,1024] [--epochs 5]
                     [--nets fc4_bn,conv4_bn] [--inference-widths 256] [--json OUT]
  compare_pytorch.py --check      # FC4-BN W=256, 2 epochs, prints the loss: does it learn?

Needs Debian's python3-torch (sudo apt-get install python3-torch). The training loop is
PyTorch's best case: no DataLoader, a pre-made tensor indexed with a permutation.
"""

import argparse
import ctypes
import gzip
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit("compare_pytorch.py: PyTorch is missing; install it with "
             "`sudo apt-get install python3-torch` (or scripts/install-deps.sh --bench)")

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
CLASS_POS, CLASS_NEG = 2, 4  # labels +1 and -1, as in rhonet's benchmarks
N_TRAIN = 12000
BATCH = 128
INFER_CHUNK = 1000
SEED = 1


# ----------------------------------------------------------------------------- data

def _read_idx(path):
    """IDX file (optionally .gz) -> numpy array of uint8 with the shape in its header."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder, base):
    for name in (base + ".gz", base):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def load_task():
    """Returns (images N x 28 x 28 float32 in [0,1], targets N float32 in {-1,+1}, source).

    The first N_TRAIN training samples of classes CLASS_POS / CLASS_NEG in file order (as
    rhonet's make_binary_task), or synthetic data of the same shape if the files are missing.
    """
    folder = os.environ.get("RHONET_FASHION_MNIST") or DEFAULT_DATA_DIR
    img_path = _find(folder, "train-images-idx3-ubyte")
    lbl_path = _find(folder, "train-labels-idx1-ubyte")
    if img_path and lbl_path:
        images, labels = _read_idx(img_path), _read_idx(lbl_path)
        keep = np.flatnonzero((labels == CLASS_POS) | (labels == CLASS_NEG))[:N_TRAIN]
        x = images[keep].astype(np.float32) / 255.0
        y = np.where(labels[keep] == CLASS_POS, 1.0, -1.0).astype(np.float32)
        return x, y, "fashion-mnist"
    rng = np.random.default_rng(SEED)
    x = rng.random((N_TRAIN, 28, 28), dtype=np.float32)
    y = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=N_TRAIN)
    return x, y, "synthetic"


def preprocess(x):
    """rhonet's pipeline: standardise with the train mean/std (one channel; population std,
    accumulated in double), then each sample to unit L2 norm. Returns (fc N x 785, conv
    N x 1 x 28 x 28); the FC inputs get a constant 1 appended after normalising."""
    mean = x.mean(dtype=np.float64)
    std = x.std(dtype=np.float64)
    z = ((x - np.float32(mean)) * np.float32(1.0 / std if std > 0 else 1.0)).reshape(len(x), -1)
    norms = np.linalg.norm(z.astype(np.float64), axis=1, keepdims=True)
    z = (z / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    fc = np.concatenate([z, np.ones((len(z), 1), dtype=np.float32)], axis=1)
    conv = z.reshape(len(z), 1, 28, 28)
    return np.ascontiguousarray(fc), np.ascontiguousarray(conv)


# ----------------------------------------------------------------------------- nets

def fc4_bn(width, inputs=785):
    layers, fan_in = [], inputs
    for _ in range(3):
        layers += [nn.Linear(fan_in, width, bias=False), nn.BatchNorm1d(width, affine=False),
                   nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(width, 1, bias=False))
    return nn.Sequential(*layers)


def conv4_bn():
    layers, fan_in = [], 1
    for channels in (32, 64, 128):
        layers += [nn.Conv2d(fan_in, channels, 3, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(channels, affine=False), nn.ReLU()]
        fan_in = channels
    # 28 -> 14 -> 7 -> 4; a 4x4 kernel maps the last feature map to one output.
    layers += [nn.Conv2d(128, 1, 4, stride=1, padding=0, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- BLAS

def _loaded_libraries():
    """Shared objects mapped into this process (Linux only; empty elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def _openblas():
    """ctypes handle of the OpenBLAS libtorch loaded, or None. Needed because
    torch.set_num_threads only sets OpenMP's threads: OpenBLAS's pthreads keep their own count,
    so without this a '1 thread' PyTorch run would still use every core inside sgemm."""
    for path in _loaded_libraries():
        if "openblas" in os.path.basename(path):
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_config.restype = ctypes.c_char_p
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return lib
            except (OSError, AttributeError):
                pass
    return None


def blas_info(lib):
    libs = _loaded_libraries()
    interesting = ("blas", "lapack", "mkl", "dnnl", "gomp", "iomp", "omp")
    info = {"loaded": [p for p in libs if any(k in os.path.basename(p) for k in interesting)]}
    if lib is not None:
        info.update(openblas_config=lib.openblas_get_config().decode(),
                    openblas_corename=lib.openblas_get_corename().decode())
    config = torch.__config__.show()
    for key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN"):
        start = config.find(key + "=")
        if start >= 0:
            info[key] = config[start + len(key) + 1:].split(",")[0].strip()
    info["summary"] = ("OpenBLAS" if lib is not None else
                       "MKL" if any("mkl" in p for p in info["loaded"]) else "unknown")
    return info


def set_threads(t, lib):
    torch.set_num_threads(t)
    if lib is not None:
        lib.openblas_set_num_threads(t)


# ----------------------------------------------------------------------------- timing

def train_epoch(model, opt, x, y, gen, loss_fn, track_loss=False):
    """One epoch of SGD over (x, y), shuffled, last partial batch kept. With track_loss,
    returns the mean batch loss; timed epochs skip that bookkeeping."""
    n = x.shape[0]
    perm = torch.randperm(n, generator=gen)
    total = torch.zeros(()) if track_loss else None
    for start in range(0, n, BATCH):
        idx = perm[start:start + BATCH]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        if track_loss:
            total += loss.detach()
    return total / ((n + BATCH - 1) // BATCH) if track_loss else None


def summary(times):
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "times": times}


# Learning rates as in rhonet_bench: 0.01 for FC4-BN; 0.001 for Conv4-BN, whose last layer
# (2048 BN+ReLU features) diverges at 0.01 with the mean square loss (docs/reproducing.md).
LR = {"fc4_bn": 0.01, "conv4_bn": 0.001}


def time_training(model, x, y, epochs, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=0.01)
    gen = torch.Generator().manual_seed(SEED)
    loss_fn = nn.MSELoss()  # mean over the batch of (g - y)^2: rhonet's square loss
    model.train()
    train_epoch(model, opt, x, y, gen, loss_fn)  # warm-up: allocator, oneDNN primitives
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        train_epoch(model, opt, x, y, gen, loss_fn)
        times.append(time.perf_counter() - t0)
    return summary(times)


def time_inference(model, x, passes):
    model.eval()
    chunks = x.split(INFER_CHUNK)

    def one_pass():
        with torch.inference_mode():
            for c in chunks:
                model(c)

    one_pass()
    times = []
    for _ in range(passes):
        t0 = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - t0)
    return summary(times)


LATENCY_CALLS = 400    # calls per timed repetition
LATENCY_INPUTS = 64    # distinct input batches, cycled (as rhonet_bench's latency rows)


def time_latency(model, x, batch, variant, repetitions):
    """Seconds per call of the eval-mode model on `batch` rows: `eager` under torch.no_grad(),
    or `traced`, torch.jit.trace then torch.jit.freeze (PyTorch's inference deployment path)."""
    model.eval()
    inputs = [x[(i * batch) % (len(x) - batch):][:batch].contiguous() for i in range(LATENCY_INPUTS)]
    with torch.no_grad():
        run = model
        if variant == "traced":
            run = torch.jit.freeze(torch.jit.trace(model, inputs[0]))
        for _ in range(3):  # warm-up: the traced graph optimises itself on its first calls
            for c in inputs:
                run(c)
        times = []
        for _ in range(repetitions):
            t0 = time.perf_counter()
            for i in range(LATENCY_CALLS):
                run(inputs[i % LATENCY_INPUTS])
            times.append((time.perf_counter() - t0) / LATENCY_CALLS)
    return summary(times)


# ----------------------------------------------------------------------------- main

def int_list(s):
    return [int(v) for v in s.split(",") if v]


def str_list(s):
    return [v for v in s.split(",") if v]


def check(x_fc, y, lib):
    """Trains FC4-BN W=256 for 2 epochs and prints the loss of each: it should fall."""
    set_threads(max(1, os.cpu_count() or 1), lib)
    torch.manual_seed(SEED)
    model = fc4_bn(256)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.01)
    gen = torch.Generator().manual_seed(SEED)
    loss_fn = nn.MSELoss()
    with torch.no_grad():
        model.eval()
        print(f"before training: loss {loss_fn(model(x_fc), y).item():.4f}")
    model.train()
    for epoch in range(1, 3):
        mean_loss = train_epoch(model, opt, x_fc, y, gen, loss_fn, track_loss=True).item()
        model.eval()
        with torch.no_grad():
            out = model(x_fc)
            full = loss_fn(out, y).item()
            error = (torch.sign(out) != y).float().mean().item()
        model.train()
        print(f"epoch {epoch}: mean batch loss {mean_loss:.4f}, train loss {full:.4f}, "
              f"train error {error:.4f}")


def main():
    p = argparse.ArgumentParser(
        description="Time PyTorch on rhonet's benchmark nets (FC4-BN, Conv4-BN) with the same "
                    "data, hyperparameters and thread counts; writes JSON.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int_list, default="1,2",
                   help="comma-separated thread counts (torch and OpenBLAS both get t)")
    p.add_argument("--widths", type=int_list, default="256,512,1024",
                   help="FC4-BN widths W to train")
    p.add_argument("--epochs", type=int, default=5,
                   help="timed epochs (and inference passes) per configuration, after 1 warm-up")
    p.add_argument("--nets", type=str_list, default="fc4_bn,conv4_bn",
                   help="nets to train: fc4_bn, conv4_bn")
    p.add_argument("--inference-widths", type=int_list, default="256",
                   help="FC4-BN widths to time inference for (empty string: none)")
    p.add_argument("--latency-widths", type=int_list, default="256,512",
                   help="FC4-BN widths to time small-batch latency for, one thread (empty: none)")
    p.add_argument("--latency-batches", type=int_list, default="1,4,16",
                   help="batch sizes of the latency rows")
    p.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    p.add_argument("--check", action="store_true",
                   help="only train FC4-BN W=256 for 2 epochs and print the loss")
    args = p.parse_args()
    for net in args.nets:
        if net not in ("fc4_bn", "conv4_bn"):
            p.error(f"unknown net {net!r}; choose from fc4_bn, conv4_bn")

    lib = _openblas()
    images, labels, source = load_task()
    fc_np, conv_np = preprocess(images)
    x_fc, x_conv = torch.from_numpy(fc_np), torch.from_numpy(conv_np)
    y = torch.from_numpy(labels).reshape(-1, 1)
    if source == "synthetic":
        print("compare_pytorch.py: Fashion-MNIST not found, using synthetic data", file=sys.stderr)

    if args.check:
        print(f"data: {source}, {len(y)} samples")
        check(x_fc, y, lib)
        return

    env_keys = ("OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT")
    doc = {
        "tool": "bench/compare_pytorch.py",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": source,
        "samples": int(len(y)),
        "batch": BATCH,
        "epochs_timed": args.epochs,
        "torch_version": torch.__version__,
        "torch_config": torch.__config__.show(),
        "torch_parallel_info": torch.__config__.parallel_info(),
        "blas": blas_info(lib),
        "env": {k: os.environ.get(k) for k in env_keys},
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        # Timings on a shared machine mean little without the load they were taken under.
        "loadavg_start": list(os.getloadavg()),
        "results": [],
    }

    def record(row):
        doc["results"].append(row)
        w = f" W={row['W']}" if "W" in row else ""
        w += f" batch={row['batch']}" if "batch" in row else ""
        scale, unit = (1e6, "us") if "latency" in row["bench"] else (1, "s")
        print(f"{row['bench']}{w} threads={row['threads']}: median {row['median'] * scale:.4f} {unit} "
              f"(min {row['min'] * scale:.4f}, max {row['max'] * scale:.4f})", flush=True)
        if args.json:  # after every row, so an interrupted sweep keeps what it measured
            doc["loadavg_end"] = list(os.getloadavg())
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json + ".tmp", "w") as f:
                json.dump(doc, f, indent=1)
            os.replace(args.json + ".tmp", args.json)

    for t in args.threads:
        set_threads(t, lib)
        if "fc4_bn" in args.nets:
            for w in args.widths:
                torch.manual_seed(SEED)
                record({"bench": "fc4_bn_epoch", "W": w, "threads": t,
                        **time_training(fc4_bn(w), x_fc, y, args.epochs, LR["fc4_bn"])})
        if "conv4_bn" in args.nets:
            torch.manual_seed(SEED)
            record({"bench": "conv4_bn_epoch", "threads": t,
                    **time_training(conv4_bn(), x_conv, y, args.epochs, LR["conv4_bn"])})
        for w in args.inference_widths:
            torch.manual_seed(SEED)
            record({"bench": "fc4_bn_inference", "W": w, "threads": t,
                    **time_inference(fc4_bn(w), x_fc, args.epochs)})
    # Latency: one thread, eager and traced, FC4-BN of each latency width and Conv4-BN.
    set_threads(1, lib)
    latency_nets = [("fc4_bn_latency", w, lambda w=w: fc4_bn(w), x_fc) for w in args.latency_widths]
    if "conv4_bn" in args.nets and args.latency_widths:
        latency_nets.append(("conv4_bn_latency", None, conv4_bn, x_conv))
    for bench, w, make, x in latency_nets:
        for b in args.latency_batches:
            for variant in ("eager", "traced"):
                torch.manual_seed(SEED)
                row = {"bench": f"{bench}_{variant}", "threads": 1, "batch": b,
                       **time_latency(make(), x, b, variant, args.epochs)}
                if w is not None:
                    row["W"] = w
                record(row)
    if args.json:
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
