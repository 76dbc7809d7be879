"""`python -m benchmarks`: run every benchmark module's main() in turn."""
import importlib
import pkgutil
import sys

import benchmarks


def main() -> int:
    rc = 0
    for name in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)):
        if name.startswith("_"):
            continue
        print(f"== benchmarks.{name}", flush=True)
        rc |= importlib.import_module(f"benchmarks.{name}").main() or 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
