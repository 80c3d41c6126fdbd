"""``myotrial randomize``: generate a concealed list, assign one patient, export, balance.

The state file (JSON) holds the seed, the scheme, the full list and the assignments: it is
UNBLINDED material. In a live trial the list lives in the randomisation database (IWRS).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from myotrial.cli._app import app
from myotrial.cli._output import check_outputs, console, emit_success, err_console, fail, plain
from myotrial.randomisation import (
    AllocationError,
    RandomisationScheme,
    Randomiser,
    SeededListWarning,
    StratumFactor,
)
from myotrial.tables.io import write_table

__all__ = ["randomize_app"]

randomize_app = typer.Typer(
    name="randomize",
    help="Stratified permuted-block randomisation with allocation concealment.",
    no_args_is_help=True,
)
app.add_typer(randomize_app, name="randomize")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


_fail = fail  # one located error, escaped, in the shared JSON envelope (exit 2)


def _split(text: str, sep: str, what: str) -> list[str]:
    parts = [p.strip() for p in text.split(sep)]
    if not all(parts):
        raise ValueError(f"{what} {text!r} has an empty part")
    return parts


def _ints(text: str, sep: str, what: str) -> tuple[int, ...]:
    out = []
    for part in _split(text, sep, what):
        try:
            out.append(int(part))
        except ValueError:
            raise ValueError(f"{what} {text!r}: {part!r} is not a whole number") from None
    return tuple(out)


@contextlib.contextmanager
def _locked(state: Path) -> Iterator[None]:
    """Hold an exclusive lock (``STATE.lock``) while reading-modifying-writing the state."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    lock = state.with_name(state.name + ".lock")
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load(state: Path, as_json: bool) -> Randomiser:
    try:
        return Randomiser.load(state)
    except (FileNotFoundError, AllocationError, ValueError, KeyError, TypeError) as exc:
        _fail(str(exc) if not isinstance(exc, KeyError) else f"{state}: missing {exc}", as_json)


@randomize_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("-o", "--out", help="State file to create (JSON).")],
    seed: Annotated[
        int | None,
        typer.Option(help="VALIDATION ONLY: a seed (non-negative integer) makes the arms "
                     "reproducible, and guessable by anyone who learns it. Default: no seed, "
                     "every draw from the OS CSPRNG (a live trial's list)."),
    ] = None,
    strata: Annotated[
        list[str] | None,
        typer.Option("--strata", help="Stratification factor 'name=level1,level2' (repeat)."),
    ] = None,
    protocol: Annotated[
        str, typer.Option(help="protocol name or .toml file: arms, ratio and block sizes")
    ] = "proderm",
    arms: Annotated[
        str | None, typer.Option(help="Arm codes, comma-separated (default: the protocol's).")
    ] = None,
    ratio: Annotated[
        str | None, typer.Option(help="Allocation ratio, e.g. 1:1 (default: the protocol's).")
    ] = None,
    block_sizes: Annotated[
        str | None,
        typer.Option(
            help="Block sizes drawn at random, comma-separated (multiples of the ratio sum; "
            "default: the protocol's [randomisation] block_sizes)."
        ),
    ] = None,
    n_per_stratum: Annotated[
        int, typer.Option(help="Minimum list length per stratum (whole blocks).")
    ] = 50,
    force: Annotated[bool, typer.Option(help="Overwrite an existing state file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Generate a stratified permuted-block list (OS CSPRNG; --seed for validation only) and
    save it as a state file (UNBLINDED material, mode 600)."""
    from myotrial.protocol import load_protocol

    output = out
    if output.exists() and not force:
        _fail(f"{output} exists (it may hold assignments); use --force to replace it", as_json)
    check_outputs([output], force=True, as_json=as_json)
    try:
        proto = load_protocol(protocol)
        arm_codes = tuple(_split(arms, ",", "--arms")) if arms else proto.arm_codes
        scheme = RandomisationScheme(
            arms=arm_codes,
            ratio=(
                _ints(ratio, ":", "--ratio")
                if ratio
                else tuple(proto.ratio.get(a, 1) for a in arm_codes)
            ),
            block_sizes=(
                _ints(block_sizes, ",", "--block-sizes") if block_sizes else proto.block_sizes
            ),
            factors=tuple(StratumFactor.parse(s) for s in strata or []),
            n_per_stratum=n_per_stratum,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SeededListWarning)  # said below, in words
            randomiser = Randomiser(scheme, seed)
        randomiser.save(output)
    except (ValueError, OSError) as exc:
        _fail(str(exc), as_json)
    warning = None
    if seed is not None:
        warning = (f"this list comes from the explicit seed {seed}: anyone who knows or guesses "
                   "it can rebuild every allocation. Use a seed to validate the method only; "
                   "omit --seed for a live trial's list (OS CSPRNG).")
        if not as_json:
            err_console.print(plain("warning: " + warning))
    info = {
        "state": str(output),
        "seed": seed,
        "source": randomiser.source,
        "entropy_bits": randomiser.entropy_bits,
        "arms": list(scheme.arms),
        "ratio": scheme.ratio_text,
        "block_sizes": list(scheme.block_sizes),
        "strata": list(scheme.strata),
        "slots": randomiser.n_remaining(),
        "warning": warning,
    }
    if as_json:
        emit_success({"state": output}, True, **info)
        return
    console.print(
        f"Created {output}: {len(scheme.strata)} "
        f"{'stratum' if len(scheme.strata) == 1 else 'strata'}, {info['slots']} slots, "
        f"arms {'/'.join(scheme.arms)} {scheme.ratio_text}, blocks of "
        f"{'/'.join(map(str, scheme.block_sizes))}, "
        f"{'seed ' + str(seed) if seed is not None else 'OS CSPRNG (no seed)'}.\n"
        "[yellow]The state file contains the unblinded list: restrict access.[/]"
    )


@randomize_app.command("assign")
def assign(
    state: Annotated[Path, typer.Argument(help="State file from 'randomize generate'.")],
    subject: Annotated[str, typer.Option("--subject", help="Subject id to randomise.")],
    stratum: Annotated[
        list[str] | None,
        typer.Option("--stratum", help="Stratum as factor=level (repeat per factor)."),
    ] = None,
    kit_only: Annotated[
        bool, typer.Option(help="Show the kit code but not the arm (blinded site view).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Randomise one patient: reveal the next allocation of their stratum and record it."""
    if not state.exists():
        _fail(f"{state}: no such randomisation state file", as_json)
    with _locked(state):
        randomiser = _load(state, as_json)
        try:
            allocation = randomiser.randomise(subject, ",".join(stratum or []) or None)
            randomiser.save(state)
        except (ValueError, OSError) as exc:
            _fail(str(exc), as_json)
    record: dict[str, Any] = allocation.as_dict()
    if kit_only:
        record.pop("arm")
    if as_json:
        emit_success({}, True, allocation=record)
        return
    arm = "" if kit_only else f", arm {allocation.arm}"
    console.print(
        plain(
            f"Randomised {allocation.subject_id} in stratum {allocation.stratum}: "
            f"sequence {allocation.sequence}, kit {allocation.kit_code}{arm}."
        )
    )


@randomize_app.command("export")
def export(
    state: Annotated[Path, typer.Argument(help="State file from 'randomize generate'.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="CSV or Parquet to write.")],
    unblinded: Annotated[
        bool, typer.Option("--unblinded", help="Confirm you are the unblinded statistician.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Export the full (unblinded) list with any assignments (mode 600). Requires
    --unblinded."""
    if not unblinded:
        _fail(
            "exporting the list reveals future allocations: pass --unblinded to confirm "
            "you are the unblinded statistician",
            as_json,
        )
    check_outputs([out], inputs=[state], force=force, as_json=as_json)
    randomiser = _load(state, as_json)
    frame = randomiser.export_list(unblinded=True)
    try:
        write_table(frame, out, private=True)
    except (OSError, ValueError) as exc:
        _fail(str(exc), as_json)
    if as_json:
        emit_success({"list": out}, True, rows=len(frame))
        return
    console.print(plain(f"Wrote {len(frame)} slots to {out} (UNBLINDED, mode 600)."))


@randomize_app.command("balance")
def balance(
    state: Annotated[Path, typer.Argument(help="State file from 'randomize generate'.")],
    as_json: JsonOption = False,
) -> None:
    """Arm counts and imbalance among randomised patients, per stratum and overall."""
    randomiser = _load(state, as_json)
    report = randomiser.balance()
    if as_json:
        emit_success(
            {},
            True,
            arms=list(report.arms),
            ratio=list(report.ratio),
            strata=[s.as_dict() for s in report.strata],
            overall=report.overall.as_dict(),
        )
        return
    table = Table(title=f"Balance ({'/'.join(report.arms)} {':'.join(map(str, report.ratio))})")
    for col in ("stratum", "n", *report.arms, "imbalance", "max diff", "remaining"):
        table.add_column(col, justify="left" if col == "stratum" else "right")
    for s in report.strata:
        table.add_row(
            s.stratum,
            str(s.n),
            *(str(s.counts[a]) for a in report.arms),
            f"{s.imbalance:g}",
            f"{s.max_difference:g}",
            str(randomiser.n_remaining(s.stratum)),
        )
    o = report.overall
    table.add_row(
        "[bold]overall[/]",
        str(o.n),
        *(str(o.counts[a]) for a in report.arms),
        f"{o.imbalance:g}",
        f"{o.max_difference:g}",
        str(randomiser.n_remaining()),
    )
    console.print(table)
    console.print(
        "imbalance = largest |n_arm - n x ratio share| (0 = exactly on ratio); "
        "max diff = largest minus smallest of n_arm / ratio part (1:1: |n_a - n_b|)"
    )
