"""python -m bench [--quick | --full] [--out bench-results]"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from bench import (
    charts,
    concurrency,
    cosmos,
    http_load,
    machine,
    memory,
    projection,
    rehydration,
    report,
    throughput,
    transfers,
    worker_cost,
)
from bench.sizes import FULL, QUICK
from bench.stats import clock

log = logging.getLogger("eventbank.bench")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="eventbank's speed and cost, side by side with its peers and the physical limit.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", dest="mode", action="store_const", const="quick", help="about a minute (default)"
    )
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="about ten minutes")
    parser.set_defaults(mode="quick")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="where the report goes")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("eventbank").setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("azure.functions").setLevel(logging.WARNING)  # the worker logs every invocation
    sizes = QUICK if args.mode == "quick" else FULL
    started = clock()
    described = machine.describe()
    log.info("bench (%s) on %s, %s cores", sizes.mode, described["cpu"], described["cores"])
    with tempfile.TemporaryDirectory(prefix="eventbank-bench-") as folder:
        workdir = Path(folder)
        log.info("1/9 command throughput in process")
        throughput_result = throughput.run(sizes, workdir)
        log.info("2/9 rehydration vs stream length")
        rehydration_result = rehydration.run(sizes, workdir)
        log.info("3/9 through HTTP on the dev host")
        http_result = http_load.run(sizes, workdir)
        log.info("4/9 projection rebuild from %s events", f"{sizes.projection_events:,}")
        projection_result = projection.run(sizes, workdir)
        log.info("5/9 Cosmos DB cost per command")
        cosmos_result = cosmos.run(sizes)
        log.info("6/9 what a call through the Python worker costs")
        worker_result = worker_cost.run(sizes, workdir)
        log.info("7/9 transfers on the dev host")
        transfers_result = transfers.run(sizes, workdir)
        log.info("8/9 concurrent clients in process")
        concurrency_result = concurrency.run(sizes, workdir)
        log.info("9/9 memory after %s events", f"{sizes.memory_events:,}")
        memory_result = memory.run(sizes, workdir)
    results = report.Results(
        sizes=sizes,
        machine=described,
        throughput=throughput_result,
        rehydration=rehydration_result,
        http=http_result,
        projection=projection_result,
        cosmos=cosmos_result,
        worker=worker_result,
        transfers=transfers_result,
        concurrency=concurrency_result,
        memory=memory_result,
        seconds=clock() - started,
        load_average_at_end=machine.load_average(),
    )
    built = report.build(results)
    report.write(built, args.out)
    charts.draw(built, http_result, args.out)
    for target in built["targets"]:
        log.info("%-12s %s: %s", target["status"], target["target"], target["measured"])
    log.info("report: %s", args.out / "report.md")


if __name__ == "__main__":
    main()
