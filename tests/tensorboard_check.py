#!/usr/bin/env python3
"""Check a log directory written by npfl138-rs with TensorBoard's own event reader.

Reads every `events.out.tfevents.*` file under LOGDIR with tensorboard's
`event_file_loader.LegacyEventFileLoader` (which verifies the TFRecord CRCs) and with
`event_accumulator.EventAccumulator` (what the TensorBoard UI shows), and compares the scalars
with the `Epoch ...` (and `Evaluation ...`) lines of LOGDIR/logs.txt:

- every event file is named `events.out.tfevents.<10 digits>.<host>.<pid>.<n>` and starts with
  `file_version = "brain.Event:2"`;
- a label `writer:tag` lives in LOGDIR/writer under `tag`, a label without a colon in
  LOGDIR/train; the step is the epoch (an `Evaluation` line uses the last epoch);
- the sequence of (tag, step) per writer equals the one from logs.txt, and each value equals the
  printed one to the printed precision (4 decimals, or 3 significant digits in the `1.00e-05` form);
- with --stdout FILE (the captured stdout of the run), its `Epoch`/`Evaluation` lines equal the
  ones of logs.txt byte for byte;
- a text summary (TensorBoard's text plugin) is allowed for each `Config ...` line of logs.txt.

Exit status 0 when everything matches, 1 with a list of problems otherwise, 2 on bad usage.
"""
import argparse
import math
import os
import re
import sys

EVENT_NAME = re.compile(r"^events\.out\.tfevents\.\d{10}\.[^/]+\.\d+\.\d+$")
EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+) (\d+\.\d)s (.*)$")
EVALUATION_LINE = re.compile(r"^Evaluation (\d+\.\d)s (.*)$")
VALUE = re.compile(r"^(nan|-?inf|-?\d+\.\d{4}|-?\d\.\d\de[-+]\d{2,})$")


def parse_logs_txt(path, problems):
    """Returns a list of (writer, tag, step, printed value) in file order and the epoch lines' labels."""
    expected, label_lists = [], []
    epoch = 0
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            line = line.rstrip("\n")
            if match := EPOCH_LINE.match(line):
                epoch, metrics = int(match.group(1)), match.group(4)
            elif match := EVALUATION_LINE.match(line):
                metrics = match.group(2)
            elif line.startswith("Config "):
                continue
            else:
                problems.append(f"{path}:{number}: unrecognised line {line!r}")
                continue
            labels = []
            for item in metrics.split(" ") if metrics else []:
                label, sep, value = item.partition("=")
                if not sep or not VALUE.match(value):
                    problems.append(f"{path}:{number}: bad entry {item!r}")
                    continue
                writer, tag = label.split(":", maxsplit=1) if ":" in label else ("train", label)
                expected.append((writer, tag, epoch, value))
                labels.append(label)
            if line.startswith("Epoch "):
                label_lists.append((number, labels))
    return expected, label_lists


def creation_order(name):
    """Sort key of event file names: unix time, then pid and the per-process counter as numbers."""
    parts = name.split(".")
    if EVENT_NAME.match(name):
        return (0, int(parts[3]), int(parts[-2]), int(parts[-1]), name)
    return (1, 0, 0, 0, name)


def matches(printed, actual):
    """Whether the float32 `actual` agrees with the `printed` value to the printed precision."""
    if printed == "nan":
        return math.isnan(actual)
    if printed.endswith("inf"):
        return actual == float(printed)
    if "e" in printed:
        mantissa, exponent = printed.split("e")
        unit = 10.0 ** (int(exponent) - (len(mantissa.split(".")[1])))
    else:
        unit = 10.0 ** -len(printed.split(".")[1])
    # half a unit of the last printed digit, plus float32 rounding of the logged value
    return abs(actual - float(printed)) <= unit / 2 * (1 + 1e-9) + abs(actual) * 2.0**-23


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir", help="the log directory (holding logs.txt, train/, dev/)")
    parser.add_argument("--labels", default=None,
                        help="comma-separated labels every Epoch line must have, in order (e.g. loss,accuracy,dev:loss,dev:accuracy)")
    parser.add_argument("--epochs", type=int, default=None, help="the number of Epoch lines logs.txt must have")
    parser.add_argument("--stdout", default=None, help="a file with the run's stdout: its Epoch lines must equal logs.txt's")
    args = parser.parse_args()

    from tensorboard.backend.event_processing import event_accumulator, event_file_loader

    problems = []
    logs_txt = os.path.join(args.logdir, "logs.txt")
    if not os.path.isfile(logs_txt):
        print(f"{logs_txt}: missing", file=sys.stderr)
        return 1
    expected, label_lists = parse_logs_txt(logs_txt, problems)
    if args.epochs is not None and len(label_lists) != args.epochs:
        problems.append(f"{logs_txt}: {len(label_lists)} Epoch lines, expected {args.epochs}")
    if args.labels is not None:
        wanted = args.labels.split(",") if args.labels else []
        for number, labels in label_lists:
            if labels != wanted:
                problems.append(f"{logs_txt}:{number}: labels {labels}, expected {wanted}")

    if args.stdout is not None:
        def log_lines(path):
            with open(path, encoding="utf-8", newline="") as file:
                return [line for line in file.read().split("\n") if line.startswith(("Epoch ", "Evaluation "))]
        printed, logged = log_lines(args.stdout), log_lines(logs_txt)
        if printed != logged:
            problems.append(f"{args.stdout}: stdout lines {printed} differ from {logs_txt} lines {logged}")

    writers = sorted({writer for writer, _, _, _ in expected})
    on_disk = sorted(name for name in os.listdir(args.logdir) if os.path.isdir(os.path.join(args.logdir, name)))
    for name in on_disk:
        if name not in writers:
            problems.append(f"{os.path.join(args.logdir, name)}: writer directory with no logged values")

    compared = 0
    text_summaries = []
    for writer in writers:
        directory = os.path.join(args.logdir, writer)
        want = [(tag, step, value) for w, tag, step, value in expected if w == writer]
        if not os.path.isdir(directory):
            problems.append(f"{directory}: missing")
            continue
        files = sorted(os.listdir(directory), key=creation_order)
        if not files:
            problems.append(f"{directory}: no event files")
        # Raw records, file by file (name order is creation order: timestamp, then the counter).
        got = []
        for name in files:
            path = os.path.join(directory, name)
            if not EVENT_NAME.match(name):
                problems.append(f"{path}: unexpected file name")
                continue
            events = list(event_file_loader.LegacyEventFileLoader(path).Load())
            if not events or events[0].file_version != "brain.Event:2":
                problems.append(f"{path}: first event is not file_version brain.Event:2")
            for event in events[1:]:
                if not event.HasField("summary"):
                    problems.append(f"{path}: event without summary at step {event.step}")
                    continue
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "text":
                        # The run's configuration as a text summary (the `Config ...` line).
                        texts = [t.decode("utf-8") for t in value.tensor.string_val]
                        if not texts or not all(texts):
                            problems.append(f"{path}: text summary {value.tag} is empty")
                        text_summaries.append((writer, value.tag, event.step))
                        continue
                    if value.WhichOneof("value") != "simple_value":
                        problems.append(f"{path}: tag {value.tag} is not a simple_value scalar")
                        continue
                    if event.wall_time <= 0:
                        problems.append(f"{path}: tag {value.tag} has wall_time {event.wall_time}")
                    got.append((value.tag, event.step, value.simple_value))
        if [(t, s) for t, s, _ in got] != [(t, s) for t, s, _ in want]:
            problems.append(f"{directory}: (tag, step) sequence {[(t, s) for t, s, _ in got]}, "
                            f"logs.txt has {[(t, s) for t, s, _ in want]}")
        else:
            for (tag, step, actual), (_, _, printed) in zip(got, want):
                compared += 1
                if not matches(printed, actual):
                    problems.append(f"{directory}: {tag} at step {step} is {actual!r}, logs.txt printed {printed}")

        # What TensorBoard itself shows. With file_version 2 it purges nothing, so a reused logdir
        # shows every run: per (tag, step) the values in file order must equal the printed ones.
        accumulator = event_accumulator.EventAccumulator(directory, size_guidance={event_accumulator.SCALARS: 0})
        accumulator.Reload()
        printed_at = {}
        for tag, step, printed in want:
            printed_at.setdefault((tag, step), []).append(printed)
        tags = sorted(accumulator.Tags()[event_accumulator.SCALARS])
        if tags != sorted({tag for tag, _ in printed_at}):
            problems.append(f"{directory}: EventAccumulator tags {tags}, logs.txt has {sorted({t for t, _ in printed_at})}")
        for tag in tags:
            shown_at = {}
            for scalar in accumulator.Scalars(tag):
                shown_at.setdefault((tag, scalar.step), []).append(scalar.value)
            for step in sorted({step for t, step in printed_at if t == tag} | {step for _, step in shown_at}):
                shown, printed = shown_at.get((tag, step), []), printed_at.get((tag, step), [])
                if len(shown) != len(printed) or not all(map(matches, printed, shown)):
                    problems.append(f"{directory}: EventAccumulator {tag} at step {step} shows {shown}, "
                                    f"logs.txt printed {printed}")

    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    with open(logs_txt, encoding="utf-8") as file:
        config_lines = sum(line.startswith("Config ") for line in file)
    if len(text_summaries) != config_lines:
        print(f"{logs_txt}: {config_lines} Config lines but text summaries {text_summaries}", file=sys.stderr)
        return 1
    print(f"{args.logdir}: OK, {compared} scalars in {len(writers)} writers match {len(label_lists)} Epoch lines"
          + (f", {len(text_summaries)} text summaries" if text_summaries else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
