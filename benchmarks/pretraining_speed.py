"""Where pretraining time goes: task generation against the network's training step.

``python -m benchmarks.pretraining_speed [--config pretraining/configs/cpu.yaml] [--batches 30]``

Draws the config's first batches of the task stream, then runs forward + backward +
AdamW on each. Times are CPU seconds of this process (``time.process_time``) with one
torch thread on CPU, so the figures hold on a busy machine; on CUDA they are wall
seconds after synchronising. FLOPs come from ``torch.utils.flop_counter``, which gives
the model FLOP utilisation (MFU) against the peak passed with ``--peak-tflops``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from pretraining.data import make_batch
from pretraining.priors import PriorConfig
from pretraining.realtables import load_real_tables
from tabicl.model import TabularConfig, TabularICL

RESULTS = Path(__file__).parent / "results" / "pretraining_speed.json"


def clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def measure(config_path: str, n_batches: int, device: torch.device, peak_tflops: float) -> dict:
    config = yaml.safe_load(Path(config_path).read_text())
    model_args = config["model"]["init_args"]
    data_args = dict(config["data"]["init_args"])
    task = data_args.pop("task")
    prior = PriorConfig(**data_args.pop("prior", {}))
    for key in ("num_workers", "seed"):
        data_args.pop(key, None)
    model = TabularICL(TabularConfig(task=task, **model_args["config"])).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=model_args.get("lr", 1e-3))

    if data_args.get("real_tables"):
        load_real_tables(data_args["real_tables"])  # once per process: not per-batch cost
    start = clock(device)
    batches = [make_batch(index, 0, task, prior, **data_args) for index in range(n_batches)]
    generate_seconds = clock(device) - start

    def step(batch: dict) -> None:
        x, y, n = batch["x"].to(device), batch["y"].to(device), batch["n_context"]
        with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            loss = model.loss(model(x, y[:, :n]), y[:, n:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(batches[0])  # warm-up
    with FlopCounterMode(display=False) as counter:
        step(batches[0])
    flops_first = counter.get_total_flops()
    start = clock(device)
    for batch in batches:
        step(batch)
    train_seconds = clock(device) - start

    tables = sum(b["x"].shape[0] for b in batches)
    cells = sum(int(np.prod(b["x"].shape)) for b in batches)
    cells_first = int(np.prod(batches[0]["x"].shape))
    flops = flops_first / cells_first * cells  # cost is about linear in cells at these sizes
    return {
        "config": config_path,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "batches": n_batches,
        "tables": tables,
        "cells": cells,
        "generate_seconds": round(generate_seconds, 2),
        "train_seconds": round(train_seconds, 2),
        "generation_share": round(generate_seconds / (generate_seconds + train_seconds), 3),
        "tables_per_second_generation": round(tables / generate_seconds, 1),
        "tables_per_second_training": round(tables / train_seconds, 1),
        "cells_per_second_training": round(cells / train_seconds),
        "train_gflops_per_second": round(flops / train_seconds / 1e9, 1),
        "mfu": round(flops / train_seconds / (peak_tflops * 1e12), 3),
        "peak_tflops": peak_tflops,
    }


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="pretraining/configs/cpu.yaml")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--peak-tflops", type=float, default=0.185,
        help="peak of the measured device: one core of this CPU reaches ~0.185 fp32",
    )  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS))
    options = parser.parse_args(args)
    device = torch.device(options.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # CPU seconds of one thread: robust to a busy machine
    result = measure(options.config, options.batches, device, options.peak_tflops)
    print(json.dumps(result, indent=2))
    out = Path(options.out)
    previous = json.loads(out.read_text()) if out.is_file() else []
    previous = [
        r for r in previous if (r["config"], r["device"]) != (result["config"], result["device"])
    ]
    out.write_text(json.dumps([*previous, result], indent=2) + "\n")


if __name__ == "__main__":
    main()
