"""``clearance`` commands (typer + rich). Each parses, calls one library function and renders."""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from clearance.catalog.store import POLICIES, Catalog
from clearance.config import Settings
from clearance.errors import ClearanceError
from clearance.policy.rules import rules_for
from clearance.scan.pipeline import ScanReport, scan
from clearance.scan.prompt import PromptReport, check_prompt

app = typer.Typer(
    name="clearance",
    help="Rights clearance for AI-generated media: register works, scan clips, decide.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="catalogue directory (default: $CLEARANCE_CATALOG or the user data dir)"),
]

LicenseeOpt = Annotated[
    str | None, typer.Option("--as", help="the licensee asking (allowed where it holds a licence)")
]


class _State:
    catalog: Path | None = None
    config: Path | None = None
    policy_file: Path | None = None


@app.callback()
def _root(
    catalog: CatalogOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="settings file (TOML)")] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy-file", help="decision rules (TOML: version, packs, review, kinds, labels)"),
    ] = None,
) -> None:
    _State.catalog = catalog
    _State.config = config
    _State.policy_file = policy_file


def _open(catalog: Path | None) -> Catalog:
    settings = Settings.load(_State.config, policy_file=_State.policy_file)
    rules_for(settings.policy_file)  # a policy file with an error stops here, whatever the command
    return Catalog.open(catalog or _State.catalog, settings=settings)


@app.command()
def register(
    files: Annotated[list[Path], typer.Argument(help="media files to register")],
    owner: Annotated[str, typer.Option("--owner", help="rights holder")],
    title: Annotated[str | None, typer.Option("--title", help="title (one file only)")] = None,
    policy: Annotated[str, typer.Option("--policy", help="block | review | allow | licensed")] = "block",
    keyframes: Annotated[
        bool,
        typer.Option(
            "--keyframes",
            help="fingerprint a video from its keyframes alone where they are 1.1 s apart or closer",
        ),
    ] = False,
    catalog: CatalogOpt = None,
) -> None:
    """Fingerprint and store works; prints one line per file with its work id."""
    if policy not in POLICIES:
        raise ClearanceError(f"--policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    cat = _open(catalog)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("fingerprinting", total=len(files))

        def step(name: str) -> None:
            progress.update(task, advance=1, description=f"fingerprinting {name[-40:]}")

        results = cat.register(
            files, owner=owner, title=title, policy=policy, strict=False, progress=step, keyframes=keyframes
        )
    failed = 0
    for r in results:
        if r.status == "failed":
            failed += 1
            err.print(f"error: {r.error}", markup=False, highlight=False)
        else:
            print(f"{r.work_id}\t{r.status}\t{r.path}")
    if failed:
        raise typer.Exit(2)


@app.command()
def works(
    owner: Annotated[str | None, typer.Option("--owner", help="only this owner's works")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    catalog: CatalogOpt = None,
) -> None:
    """List registered works."""
    rows = _open(catalog).works(owner)
    if as_json:
        print(json.dumps([w.__dict__ for w in rows], indent=2))
        return
    table = Table("id", "owner", "title", "kind", "duration", "policy", "status")
    table.columns[0].no_wrap = True
    for w in rows:
        table.add_row(w.id, w.owner, w.title, w.kind, f"{w.duration_s:.1f} s", w.policy, w.status)
    out.print(table)


AnchorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor",
        help="comma-separated phrases that identify it unnamed (other wordings of a phrase after '|'); "
        "repeatable",
    ),
]
identity_app = typer.Typer(help="People whose likeness is protected.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")


@identity_app.command("add")
def identity_add(
    name: Annotated[str, typer.Argument(help="the person's name")],
    owner: Annotated[str, typer.Option("--owner", help="who holds the rights (agency, estate)")],
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="another name (nickname, other script); repeatable")
    ] = None,
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="a licensee who may generate the likeness; repeatable")
    ] = None,
    deceased: Annotated[bool, typer.Option("--deceased", help="the estate acts for the person")] = False,
    minor: Annotated[bool, typer.Option("--minor", help="never allowed, whoever asks")] = False,
    policy: Annotated[str, typer.Option("--policy", help="block | review | allow | licensed")] = "block",
    anchor: AnchorOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Register a person (no media needed); prints the new identity id."""
    identity = _open(catalog).add_identity(
        name, owner=owner, aliases=alias or [], licensees=allow or [], policy=policy, deceased=deceased,
        minor=minor, anchors=anchor or [],
    )  # fmt: skip
    print(identity.id)


@identity_app.command("list")
def identity_list(
    owner: Annotated[str | None, typer.Option("--owner", help="only this owner's identities")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    catalog: CatalogOpt = None,
) -> None:
    """List registered identities."""
    rows = _open(catalog).identities(owner)
    if as_json:
        print(json.dumps([asdict(i) for i in rows], indent=2))
        return
    table = Table("id", "owner", "name", "aliases", "policy", "licensees", "flags")
    table.columns[0].no_wrap = True
    for i in rows:
        flags = ", ".join(f for f, on in (("deceased", i.deceased), ("minor", i.minor)) if on)
        table.add_row(i.id, i.owner, i.name, ", ".join(i.aliases), i.policy, ", ".join(i.licensees), flags)
    out.print(table)


@identity_app.command("remove")
def identity_remove(
    identity_id: Annotated[str, typer.Argument(help="the identity's id")], catalog: CatalogOpt = None
) -> None:
    """Delete an identity with its names and licensees."""
    _open(catalog).remove_identity(identity_id)
    print(f"{identity_id}\tremoved")


work_app = typer.Typer(help="One registered work.", no_args_is_help=True)
app.add_typer(work_app, name="work")


@work_app.command("terms")
def work_terms(
    work_id: Annotated[str, typer.Argument(help="the work's or identity's id")],
    name: Annotated[
        list[str] | None, typer.Option("--name", help="a name it is called by; repeatable")
    ] = None,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="another name; repeatable")] = None,
    anchor: AnchorOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Add prompt terms to a work or an identity; prints every term it has."""
    cat = _open(catalog)
    cat.add_terms(work_id, names=name or [], aliases=alias or [], anchors=anchor or [])
    for term in cat.terms_of(work_id):
        print(f"{term.kind}\t{term.text}")


@work_app.command("allow")
def work_allow(
    work_id: Annotated[str, typer.Argument(help="the work's (or identity's) id")],
    licensees: Annotated[list[str], typer.Argument(help="licensees who may use it")],
    catalog: CatalogOpt = None,
) -> None:
    """Record licences: these licensees may use the work or person (its policy says what others get)."""
    for licensee in _open(catalog).add_licensees(work_id, licensees):
        print(licensee)


identity_app.command("terms")(work_terms)  # the same commands for a person
identity_app.command("allow")(work_allow)

prompt_app = typer.Typer(help="Screen text prompts before generating.", no_args_is_help=True)
app.add_typer(prompt_app, name="prompt")


@prompt_app.command("check")
def prompt_check(
    prompt: Annotated[str, typer.Argument(help="the prompt, or - to read it from standard input")],
    licensee: LicenseeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the clearance.prompt/1 report")] = False,
    catalog: CatalogOpt = None,
) -> None:
    """Which registered people and works a prompt names, how, and the decision."""
    cat = _open(catalog)
    text: str | bytes = prompt
    if prompt == "-":
        text = sys.stdin.buffer.read(cat.settings.limits.max_prompt_chars * 4 + 1)
    report = check_prompt(cat, text, licensee=licensee)
    if as_json:
        print(json.dumps(report.to_json_dict(), indent=2, ensure_ascii=False))
        return
    render_prompt_report(report)


@app.command()
def explain(
    scan_id: Annotated[str, typer.Argument(help="a scan id (clip or prompt), as its report gives it")],
    catalog: CatalogOpt = None,
) -> None:
    """Why a stored decision was made: its findings, the rules that fired, and the policy version."""
    report = _open(catalog).scan_report(scan_id)
    out.print(
        f"scan {scan_id} ({report.get('schema', '?')}), policy version {report.get('policy_version', '?')}"
    )
    if "prompt" in report.get("input", {}):
        out.print(
            f"prompt: {report['input']['prompt']!r}"
            + (f" (as {report['licensee']})" if report.get("licensee") else "")
        )
        for m in report.get("matches", []):
            out.print(
                f"- {m['kind']} {m['id']} {m['name']!r} ({m['owner']}): {m['match']} match of "
                f"{m['term_kind']} {m['term']!r} on {m['text']!r}, score {m.get('score', 1.0):.2f} -> "
                f"{m['decision']} ({m['rule']})",
                markup=False,
                highlight=False,
            )
    else:
        out.print(f"input: {report['input']['path']} (sha256 {report['input']['sha256'][:16]}...)")
        for f in report.get("findings", []):
            out.print(
                f"- {f['kind']} {f['work_id']} {f['title']!r} ({f['owner']}): clip {f['query_start']:.1f}-"
                f"{f['query_end']:.1f} s, score {f['score']:.2f} -> {f.get('decision') or f['policy']} "
                f"({f.get('rule') or 'policy ' + f['policy']})",
                markup=False,
                highlight=False,
            )
    if not report.get("matches") and not report.get("findings"):
        out.print("no findings: nothing registered was met, so the decision is allow")
    if report.get("labels"):
        out.print(f"released output must carry: {', '.join(report['labels'])} AI labels")
    out.print(f"decision: {report['decision']} (the strictest of the findings' decisions)")


@app.command()
def compact(catalog: CatalogOpt = None) -> None:
    """Merge each signal's index generations into one (run it after large registrations)."""
    cat = _open(catalog)
    for signal in cat.signals():
        before = len(cat.generations(signal))
        cat.compact(signal)
        print(f"{signal}\t{before} -> {len(cat.generations(signal))} generations")


@app.command("scan")
def scan_cmd(
    file: Annotated[Path, typer.Argument(help="clip to screen")],
    as_json: Annotated[bool, typer.Option("--json", help="print the clearance.scan/1 report")] = False,
    licensee: LicenseeOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Screen a clip: which registered works it contains, where, and the decision."""
    report = scan(_open(catalog), file, licensee=licensee)
    if as_json:
        print(json.dumps(report.to_json_dict(), indent=2))
    else:
        render_report(report)


@app.command()
def demo(
    keep: Annotated[Path | None, typer.Option("--keep", help="build the demo in this directory")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Build a catalogue from synthesized songs, make an edited clip with two of them, and scan it."""
    from clearance.scan.demo import run_demo

    status = (
        err.status("building the demo catalogue and clip ...", spinner="dots")
        if err.is_terminal
        else nullcontext()
    )
    with tempfile.TemporaryDirectory(prefix="clearance-demo-") as tmp, status:
        result = run_demo(keep or Path(tmp))
    if as_json:
        print(json.dumps(result.report.to_json_dict(), indent=2))
        return
    if keep:
        out.print(f"catalogue: {result.catalog_dir}", markup=False, highlight=False)
        out.print(f"clip:      {result.clip}", markup=False, highlight=False)
    else:
        out.print("Built in a temporary directory, now removed (--keep DIR keeps the catalogue and clip).")
    out.print(
        "The clip holds: 4 s speech | 10 s of Song A at +4 % speed | 4 s unregistered music | "
        "8 s of Song C under a voice-over."
    )
    render_report(result.report)


def render_report(report: ScanReport) -> None:
    """A findings table and the decision."""
    info = report.input
    out.print(
        f"[bold]{info.path}[/bold]  {info.duration:.1f} s  scan {report.scan_id or '-'}", highlight=False
    )
    if report.findings:
        table = Table(
            "kind", "work id", "title", "owner", "in clip (s)", "in work (s)", "speed", "score", "policy"
        )
        table.columns[1].no_wrap = True
        for f in report.findings:
            table.add_row(
                f.kind,
                f.work_id,
                f.title,
                f.owner,
                f"{f.query_start:.1f}-{f.query_end:.1f}",
                f"{f.ref_start:.1f}-{f.ref_end:.1f}"
                if f.ref_start is not None and f.ref_end is not None
                else "-",
                f"{f.speed:.3f}",
                f"{f.score:.2f}",
                f.policy,
            )
        out.print(table)
    else:
        out.print("no registered work found")
    out.print(_decision_line(report.decision))


def _decision_line(decision: str) -> str:
    colour = {"block": "red", "review": "yellow", "allow": "green"}.get(decision, "white")
    return f"decision: [bold {colour}]{decision}[/]"


def render_prompt_report(report: PromptReport) -> None:
    """Print a prompt report as a table and its decision."""
    if report.matches:
        table = Table("kind", "id", "name", "owner", "matched", "how", "score", "decision", "rule")
        table.columns[1].no_wrap = True
        for m in report.matches:
            table.add_row(m.kind, m.id, m.name, m.owner, m.text, f"{m.match} ({m.term_kind} {m.term!r})",
                          f"{m.score:.2f}", m.decision, m.rule)  # fmt: skip
        out.print(table)
    else:
        out.print("no registered work or person named")
    out.print(f"{_decision_line(report.decision)}  (scan {report.scan_id})")


def main(argv: list[str] | None = None) -> Any:
    """Entry point: runs the app, turning clearance errors into one line and exit code 2."""
    try:
        app(args=argv)  # standalone: usage errors exit 2, --help exits 0
    except ClearanceError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(2)
