"""Command line: `python -m sim [--listen ...] [--out ...] [--speedup N] ...`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from sim.faults import FAULTS, list_lines
from sim.links import LinkError, LinkSpec, parse_spec
from sim.vehicle import Home

PREFIX = "skyproof-sim:"
DEFAULT_LISTEN = "tcp:127.0.0.1:5760"


class _LinkAction(argparse.Action):
    """--listen and --out share one list so channels are numbered in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        outgoing = option_string == "--out"
        try:
            spec = parse_spec(str(values), outgoing)
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        links = getattr(namespace, "links", None) or []
        links.append(spec)
        namespace.links = links


def _speedup(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < v <= 1000:
        raise argparse.ArgumentTypeError("must be > 0 and <= 1000")
    return v


def _home(text: str) -> Home:
    try:
        lat, lon, alt, hdg = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected LAT,LON,ALT,HDG") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= hdg <= 360):
        raise argparse.ArgumentTypeError("latitude, longitude or heading out of range")
    return Home(lat, lon, alt, hdg)


def _sysid(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= v <= 255:
        raise argparse.ArgumentTypeError("must be 1..255")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sim",
        description="skyproof built-in MAVLink multicopter simulator (loopback only).",
    )
    p.add_argument("--listen", action=_LinkAction, metavar="tcp:HOST:PORT|udpin:HOST:PORT",
                   help=f"listen for a GCS (port 0 = pick a free one); default {DEFAULT_LISTEN}")
    p.add_argument("--out", action=_LinkAction, metavar="udpout:HOST:PORT",
                   help="send to a UDP address and read its replies")
    p.add_argument("--speedup", type=_speedup, default=1.0, help="vehicle time / wall time")
    p.add_argument("--home", type=_home, default=None, metavar="LAT,LON,ALT,HDG")
    p.add_argument("--seed", type=int, default=1, help="seed for noise and wind (default 1)")
    p.add_argument("--sysid", type=_sysid, default=None,
                   help="MAVLink system id (sets SYSID_THISMAV; default 1)")
    p.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS),
                   metavar="NAME", help="make a known-bad vehicle (see --list-faults)")
    p.add_argument("--list-faults", action="store_true", help="list faults and exit")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="directory where parameters, missions and the signing key persist")
    p.add_argument("--files-dir", type=Path, default=None,
                   help="folder holding the MAVLink FTP root (ftp/, logs in ftp/logs); "
                   "default: a temporary one, removed on exit")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="boot with this parameter value (e.g. DID_ENABLE=1, read only at boot)")
    p.add_argument("--radio", default=None, metavar="CHANNEL[,CHANNEL...]|all",
                   help="put a simulated SiK radio (RADIO_STATUS, range, loss) on these links")
    return p


def _radio(text: str | None, n_links: int) -> tuple[int, ...]:
    """Channels for --radio (ValueError with a one-line reason when bad)."""
    if text is None:
        return ()
    if text == "all":
        return tuple(range(n_links))
    try:
        chans = tuple(sorted({int(c) for c in text.split(",")}))
    except ValueError:
        raise ValueError(f"--radio: expected channel numbers or 'all', got {text!r}") from None
    bad = [c for c in chans if not 0 <= c < n_links]
    if bad:
        raise ValueError(f"--radio: no link {bad[0]} (links are 0..{n_links - 1})")
    return chans


def _params(given: list[str]) -> dict[str, float]:
    """--param NAME=VALUE ... (ValueError with a one-line reason when bad)."""
    from sim.params import DEFS, coerce

    out: dict[str, float] = {}
    for text in given:
        name, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"--param: expected NAME=VALUE, got {text!r}")
        if name not in DEFS:
            raise ValueError(f"--param: no parameter {name!r} (see the simulator's README)")
        try:
            stored = coerce(DEFS[name], float(value))
        except ValueError:
            stored = None
        if stored is None:
            d = DEFS[name]
            raise ValueError(f"--param: {name}={value} is not a valid value ({d.lo:g}..{d.hi:g})")
        out[name] = stored
    return out


def _say(line: str) -> None:
    """Print to stdout; a reader that has gone away (closed pipe) is no error."""
    try:
        print(line, flush=True)
    except (BrokenPipeError, ValueError, OSError):
        # Point stdout at /dev/null so the interpreter's final flush cannot raise again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


_stop = False


def _on_signal(_signum: int, _frame: object) -> None:
    global _stop
    _stop = True


def main(argv: list[str] | None = None) -> int:
    # Handlers first: a signal at any moment after start must mean a clean exit 0.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_faults:
        print("\n".join(list_lines()))
        return 0
    from sim.core import Config, Sim  # after parsing: --help stays fast

    links: list[LinkSpec] = getattr(args, "links", None) or [parse_spec(DEFAULT_LISTEN, False)]
    try:
        radio = _radio(args.radio, len(links))
        params = _params(args.param)
    except ValueError as exc:
        parser.error(str(exc))  # exits 2, argparse-style
    cfg = Config(links=links, speedup=args.speedup, seed=args.seed, sysid=args.sysid,
                 faults=args.fault, state_dir=args.state_dir, radio=radio, params=params,
                 files_dir=args.files_dir)
    if args.home is not None:
        cfg.home = args.home
    sim = Sim(cfg)
    try:
        sim.open_links()
    except LinkError as exc:
        sim.close()
        print(f"{PREFIX} {exc}", file=sys.stderr)
        return 2
    for link in sim.links:
        _say(f"{PREFIX} link {link.index} {link.verb} {link.address}")
    _say(f"{PREFIX} ready (sysid {sim.sysid}, speedup {cfg.speedup:g}, "
         f"faults: {sim.faults.describe()})")
    code = sim.run(lambda: _stop)
    _say(f"{PREFIX} stopped")
    return code
