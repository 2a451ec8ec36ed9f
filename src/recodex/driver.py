"""npfl138-rs's ReCodEx driver: runs a submission the way the course's ReCodEx does.

Usage: python3 driver.py MAIN_FILE RESULT_FILE [ARGS...]

MAIN_FILE (the submission's one file with a line starting with `def main(`) is imported as a
module named `__recodex__` (so code under `if __name__ == "__main__":` does not run), its
module-level `parser` (an argparse.ArgumentParser) parses ARGS over its defaults, and
`main(args)` is called. The value `main` returns is written to RESULT_FILE as JSON (numbers,
NumPy scalars and 0-d tensors as numbers, `nan`/`inf` as the strings "nan", "inf", "-inf";
tuples and arrays as lists; dictionaries as objects). Problems of the submission's shape are
reported on stderr as one line starting with `npfl138 recodex:` and exit code 3.
"""
import argparse
import importlib.util
import json
import math
import os
import sys


def fail(message):
    sys.stderr.write("npfl138 recodex: " + message + "\n")
    sys.stderr.flush()
    os._exit(3)


def jsonable(value, depth=0):
    if depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    # NumPy scalars and arrays, PyTorch tensors: .item() for one value, .tolist() for more.
    for method in ("item", "tolist"):
        try:
            return jsonable(getattr(value, method)(), depth + 1)
        except Exception:
            pass
    try:
        return jsonable(float(value), depth + 1)
    except Exception:
        return repr(value)


def run():
    if len(sys.argv) < 3:
        fail("usage: driver.py MAIN_FILE RESULT_FILE [ARGS...]")
    main_file, result_file, args = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3:]
    sys.argv = [main_file] + args
    sys.path.insert(0, os.path.dirname(main_file))
    spec = importlib.util.spec_from_file_location("__recodex__", main_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["__recodex__"] = module
    spec.loader.exec_module(module)
    name = os.path.basename(main_file)
    parser = getattr(module, "parser", None)
    if not isinstance(parser, argparse.ArgumentParser):
        fail(f"{name} has no module-level `parser` (an argparse.ArgumentParser): ReCodEx imports the "
             "file and parses the test's arguments with it; code under `if __name__ == \"__main__\":` does not run")
    main = getattr(module, "main", None)
    if not callable(main):
        fail(f"{name} has no function `main` at module level")
    value = main(parser.parse_args(args))
    with open(result_file, "w", encoding="utf-8") as result:
        json.dump({"returned": jsonable(value)}, result)
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    run()
