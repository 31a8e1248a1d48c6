# SPDX-License-Identifier: BSL-1.0
"""Checks README.md's samples against the code (ctest: readme_samples, readme_console).

  readme_check.py samples --readme README.md --cxx g++ [--flag F]... [--include DIR]...
                          [--system-include DIR]... [--link F]...
  readme_check.py console --readme README.md --source-dir DIR --build-dir DIR

samples: every ```cpp (or c++) block of the README is compiled with the project's warning
flags and -Werror. A block with `int main(` is a whole program: it is also linked and run
(exit 0 within 30 s), and a ```console block right after it marked `<!-- readme: output -->`
must be exactly what it printed. Any other block is a fragment: its #include lines go first,
the rest becomes the body of an uncalled function (unused variables and parameters allowed).
A block that is pseudo-code on purpose carries `<!-- readme: not-compiled REASON -->` on the
line before its fence; there should be very few.

console: every ```console block must carry `<!-- readme: console ID -->` (or `output`) on the
line before its fence; ID names an entry of CONSOLE below, which says how the block is checked:
  live      - its `$ ` commands run in order against daemons started for it (the build's
              tools/venom and example/ programs on PATH); each command's output (stdout and
              stderr together) must match the block's lines, line for line;
  run       - a command (the block's own, rewritten by explicit substitutions such as shorter
              durations, or one given here) is run; every README line must match a line of its
              output, in any order;
  recorded  - a recorded run that CI cannot repeat; not run, the reason is printed.
Matching: runs of spaces count as one space; the parts of a README line that a mask names
(a regex; its group 1) are variable: `num` any number, `hex` a hex-dump row's bytes and text,
`bind` a value (a pid) that must be the same wherever it appears in the block, and which
commands use (`kill -9 PID`). Everything else must be equal.

Both modes run inside a private mount namespace with an empty tmpfs on /dev/shm (unshare; as
root, or through a user namespace), so that `venom list` sees only the block's channels and
names never collide. console exits 77 (ctest: skipped) when no namespace can be made.

Failures name the README line of the block (and of the line that differs).
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NS_ENV = "VENOM_README_NS"
SKIP = 77

# ---- the console blocks: how each is checked ------------------------------------------------
NUM = r"(-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)"

CONSOLE = {
    # The venom tool's session (## The venom tool): re-run for real, every line compared.
    "venom-tool": dict(
        kind="live",
        # name, command line, a command whose output shows the daemon is ready (bounded wait)
        setup=[
            ("feed", "venom_market_feed feed 0 1000", "venom stat feed"),
            ("kv", "venom_kv_service kv 0", "venom stat kv"),
            # a client that stays in its put phase for the whole session
            ("client", "venom_kv_client kv alice 1000000000", "venom stat kv | grep -q '1 of 32'"),
        ],
        masks=[
            (r"(?:^|\s)(\d+) (?:alive|dead)\b", "bind"),  # list: the daemon's pid
            (r"\bpid (\d+)", "bind"),
            (r"^\s*\d+\s+(\d+)\s+(?:yes|no)\b", "bind"),  # stat: a client's pid
            (r"^kill -9 (\d+)", "bind"),
            (r"B\s+(\d+)\s+\d", "num"),  # list: updates
            (r"\b(\d+(?:\.\d+)?)s(?:\s|$)", "num"),  # ages
            (r"^state\s+version (\d+)", "num"),
            (r"^heartbeat (\d+\.\d+) s ago", "num"),
            (r"\((\d+) beats\)", "num"),
            (r"\((\d+) B\)", "num"),
            (r"\b" + NUM + r" updates/s", "num"),
            (r"depth (\d+) of", "num"),
            (r"head (\d+)", "num"),
            (r"tail (\d+)", "num"),
            (r"handled (\d+)", "num"),
            (r"\(" + NUM + r"/s\)", "num"),
            (r"^\s*\d+\s+\d+\s+(?:yes|no)\s+(\d+)", "num"),  # a client's requests
            (r"^\[v(\d+)\]", "num"),
            (r"keys (\d+)", "num"),
            (r"puts (\d+)", "num"),
            (r"\(version (\d+)\)", "num"),
            (r"^[0-9a-f]{8}\s+(.*)$", "hex"),
        ],
    ),
    # `venom serve` (## The venom tool): three daemons it hosts, then the session re-run.
    "venom-serve": dict(
        kind="live",
        setup=[
            ("up", "venom serve up --exec 'tr a-z A-Z' </dev/null", "venom stat up"),
            ("oops", "venom serve oops --exec 'echo no such key >&2; exit 3' </dev/null",
             "venom stat oops"),
            ("sensor", "printf 'temperature 21.5\\n' | venom serve sensor --echo",
             "venom read sensor | grep -q temperature"),
        ],
        masks=[],
    ),
    # The market-data example's run.sh, as the README shows it.
    "market-data": dict(
        kind="run",
        rewrite=[(r"\bbuild/release/", "{build}/")],
        masks=[(NUM, "num")],
        keep=[r"^strategy (\d)"],  # numbers that stay literal (which strategy)
    ),
    # Four consumers of 8K frames for 5 s, against a consumer copying with read_data, which
    # is not in the tree any more: recorded. The "after" lines' shape is checked against a
    # 1-second run of one consumer.
    "video-frames": dict(
        kind="run",
        command="VIDEO_CONSUMERS=1 bash example/video_frames/run.sh "
        "{build}/example/venom_video_producer {build}/example/venom_video_consumer 1",
        only=r"#\s*after",  # the checked lines (annotated "# after"); the others are recorded
        masks=[(NUM, "num")],
        keep=[r"^consumer (\d)"],
    ),
    # The sensors example, as in the README but with the hub running 2 s instead of 10.
    "sensors": dict(
        kind="run",
        rewrite=[(r"(venom_sensor_hub \S+) 10\b", r"\1 2"), (r"(robot) 15\b", r"\1 5")],
        masks=[(NUM, "num")],
    ),
}


class Failure(Exception):
    pass


# ---- the README's blocks ---------------------------------------------------------------------
class Block:
    def __init__(self, lang, fence_line, marker):
        self.lang = lang  # the fence's info string, lower case
        self.fence_line = fence_line  # 1-based line of the opening fence
        self.marker = marker  # the text of a preceding <!-- readme: ... --> comment, or None
        self.lines = []  # (line number, text)

    @property
    def first(self):
        return self.fence_line + 1

    def where(self):
        return "README.md:%d" % self.fence_line


MARKER = re.compile(r"^\s*<!--\s*readme:\s*(.*?)\s*-->\s*$")


def parse(path):
    blocks, block, prev = [], None, ""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f.read().split("\n"), 1):
            if block is None:
                m = re.match(r"^(\s*)```\s*([\w+-]*)", line)
                if m:
                    pm = MARKER.match(prev)
                    block = Block(m.group(2).lower(), n, pm.group(1) if pm else None)
                elif line.strip():
                    prev = line
            elif re.match(r"^\s*```\s*$", line):
                blocks.append(block)
                block, prev = None, ""
            else:
                block.lines.append((n, line))
    if block is not None:
        raise Failure("%s: a block that is never closed" % block.where())
    return blocks


# ---- a private /dev/shm ---------------------------------------------------------------------
def in_private_shm(argv):
    """Re-runs this script in a mount namespace with its own /dev/shm; returns its exit code,
    or None when no namespace can be made (the caller then runs here)."""
    if os.environ.get(NS_ENV) == "1":
        return None
    unshare = shutil.which("unshare")
    if unshare:
        for opts in (["--mount"], ["--user", "--map-root-user", "--mount"]):
            probe = [unshare] + opts + ["--propagation", "private", "--", "sh", "-c",
                                        "mount -t tmpfs -o size=1g,mode=1777 tmpfs /dev/shm"]
            if subprocess.run(probe, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                env = dict(os.environ, **{NS_ENV: "1"})
                cmd = [unshare] + opts + ["--propagation", "private", "--", "sh", "-c",
                                          'mount -t tmpfs -o size=1g,mode=1777 tmpfs /dev/shm '
                                          '&& exec "$@"', "sh", sys.executable,
                                          os.path.abspath(__file__)] + argv
                return subprocess.run(cmd, env=env).returncode
    return None


# ---- samples ---------------------------------------------------------------------------------
FRAGMENT_HEAD = """// README fragment harness (test/readme_check.py): the includes first, the
// rest as the body of a function that is never called.
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
"""


def sample_source(block):
    text = "\n".join(t for _, t in block.lines)
    if re.search(r"\bint\s+main\s*\(", text):
        out = ['#line %d "README.md"' % block.first] + [t for _, t in block.lines]
        return True, "\n".join(out) + "\n"
    includes, body = [], []
    for n, t in block.lines:
        target = includes if re.match(r"^\s*#\s*include\b", t) else body
        target.append('#line %d "README.md"' % n)
        target.append(t)
    src = FRAGMENT_HEAD + "\n".join(includes)
    src += "\n[[maybe_unused]] static void readme_fragment() {\n"
    src += "\n".join(body) + "\n}\n"
    return False, src


def check_samples(args, blocks):
    failures, compiled = [], 0
    tmp = tempfile.mkdtemp(prefix="readme_samples_")
    try:
        for i, b in enumerate(blocks):
            if b.lang not in ("cpp", "c++"):
                continue
            if b.marker and b.marker.startswith("not-compiled"):
                print("%s: not compiled (%s)" % (b.where(), b.marker))
                continue
            program, src = sample_source(b)
            base = os.path.join(tmp, "sample_%d" % b.fence_line)
            with open(base + ".cpp", "w", encoding="utf-8") as f:
                f.write(src)
            cmd = [args.cxx] + args.flag + ["-Werror"]
            cmd += ["-I" + d for d in args.include]
            cmd += ["-isystem" + d for d in args.system_include]
            if program:
                cmd += [base + ".cpp", "-o", base] + args.link
            else:
                cmd += ["-fsyntax-only", base + ".cpp"]
            t0 = time.monotonic()
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=600)
            kind = "program" if program else "fragment"
            if r.returncode != 0:
                failures.append("%s: the cpp block (a %s, lines %d-%d) does not compile:\n%s\n"
                                "  command: %s" % (b.where(), kind, b.first, b.lines[-1][0] if
                                                   b.lines else b.first, r.stdout.rstrip(),
                                                   " ".join(cmd)))
                continue
            compiled += 1
            what = "compiled (%.1f s)" % (time.monotonic() - t0)
            if program:
                try:
                    run = subprocess.run([base], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, timeout=30, cwd=tmp)
                except subprocess.TimeoutExpired:
                    failures.append("%s: the program did not end within 30 s" % b.where())
                    continue
                if run.returncode != 0:
                    failures.append("%s: the program exited with %d\n  stdout: %s\n  stderr: %s"
                                    % (b.where(), run.returncode, run.stdout, run.stderr))
                    continue
                what += ", ran"
                nxt = blocks[i + 1] if i + 1 < len(blocks) else None
                if nxt is not None and nxt.marker == "output":
                    want = [t for _, t in nxt.lines]
                    got = run.stdout.rstrip("\n").split("\n")
                    if want != got:
                        failures.append("%s: the output shown is not what the program of %s "
                                        "printed:\n  README:\n    %s\n  printed:\n    %s" % (
                                            nxt.where(), b.where(), "\n    ".join(want),
                                            "\n    ".join(got)))
                        continue
                    what += ", its output matches %s" % nxt.where()
            print("%s: %s: %s" % (b.where(), kind, what))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    if compiled == 0 and not failures:
        print("FAIL no cpp block found in the README")
        return 1
    return 1 if failures else 0


# ---- console ---------------------------------------------------------------------------------
class Matcher:
    """Turns README lines into regexes through the masks; keeps the block's bound values."""

    def __init__(self, masks, keep=()):
        self.masks = [(re.compile(p), k) for p, k in masks]
        self.keep = [re.compile(p) for p in keep]
        self.bound = {}  # README value -> actual value

    def spans(self, line):
        kept = [m.span(1) for k in self.keep for m in k.finditer(line)]
        found = []
        for rx, kind in self.masks:
            for m in rx.finditer(line):
                s = m.span(1)
                if s[0] < 0 or any(a < s[1] and s[0] < b for a, b in kept):
                    continue
                found.append((s[0], s[1], kind))
        found.sort(key=lambda x: (x[0], -(x[1] - x[0])))
        out, end = [], -1
        for a, b, kind in found:
            if a >= end:
                out.append((a, b, kind))
                end = b
        return out

    def bind_values(self, lines):
        """Every value of the block a `bind` mask names; later occurrences are binds too."""
        vals = set()
        for line in lines:
            for a, b, kind in self.spans(line):
                if kind == "bind":
                    vals.add(line[a:b])
        return vals

    def match(self, want, got, binds=()):
        """True when `got` matches the README line `want`; binds values on success."""
        want, got = norm(want), norm(got)
        parts, groups, pos = [], [], 0
        spans = self.spans(want)
        # bind values that a mask did not name here (a pid in a sentence) are binds as well
        for v in binds:
            for m in re.finditer(r"(?<![0-9])%s(?![0-9])" % re.escape(v), want):
                if not any(a < m.end() and m.start() < b for a, b, _ in spans):
                    spans.append((m.start(), m.end(), "bind"))
        spans.sort()
        for a, b, kind in spans:
            parts.append(lit(want[pos:a]))
            value = want[a:b]
            if kind == "bind":
                if value in self.bound:
                    parts.append(re.escape(self.bound[value]))
                else:
                    parts.append(r"([0-9]+)")
                    groups.append(value)
            elif kind == "num":
                parts.append(NUM.replace("(", "(?:", 1))
            elif kind == "hex":
                parts.append(r"(?:[0-9a-f]{2} ){1,16}.*\|.*\|")
            pos = b
        parts.append(lit(want[pos:]))
        m = re.fullmatch("".join(parts), got)
        if not m:
            return False
        new = {}
        for value, actual in zip(groups, m.groups()):
            if new.get(value, actual) != actual:
                return False
            new[value] = actual
        self.bound.update(new)
        return True

    def substitute(self, command, binds):
        for v in sorted(binds, key=len, reverse=True):
            if v in self.bound:
                command = re.sub(r"(?<![0-9])%s(?![0-9])" % re.escape(v), self.bound[v],
                                 command)
        return command


def norm(s):
    return re.sub(r" +", " ", s.rstrip())


def lit(s):
    return re.escape(s).replace(r"\ ", " ")


def shell_env(args):
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.join(args.build_dir, "tools"),
                                   os.path.join(args.build_dir, "example"), env["PATH"]])
    env["LC_ALL"] = "C"
    return env


def sh(command, env, cwd, timeout=60):
    r = subprocess.run(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=env, cwd=cwd, timeout=timeout)
    return r.returncode, r.stdout


def split_session(block):
    """[(README line, command, [(README line, expected output line)])] of a `$ ` session."""
    steps = []
    for n, t in block.lines:
        if t.startswith("$ "):
            steps.append((n, t[2:], []))
        elif not steps:
            raise Failure("%s: line %d: output before the first `$ ` command" % (block.where(), n))
        else:
            steps[-1][2].append((n, t))
    return steps


def check_live(args, block, spec, env):
    procs = []
    try:
        for label, command, ready in spec["setup"]:
            procs.append((label, subprocess.Popen(
                ["bash", "-c", "exec " + command], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env, cwd=args.build_dir, start_new_session=True)))
            deadline = time.monotonic() + 10
            while sh(ready, env, args.build_dir)[0] != 0:
                if time.monotonic() > deadline:
                    raise Failure("%s: set-up: %s (%s) not ready within 10 s" % (
                        block.where(), label, command))
                time.sleep(0.05)
        m = Matcher(spec["masks"])
        binds = m.bind_values([t for _, t in block.lines])
        for n, command, expected in split_session(block):
            cmd = m.substitute(command, binds)
            _, out = sh(cmd, env, args.build_dir)
            if args.verbose:
                print("$ " + cmd + "\n" + out, end="")
            got = out.rstrip("\n").split("\n") if out.strip() else []
            if re.match(r"^kill\b", cmd):  # the killed daemon's end, before the next command
                for _, p in procs:
                    if re.search(r"\b%d\b" % p.pid, cmd):
                        p.wait(timeout=10)
            if len(got) != len(expected):
                raise Failure("%s: line %d: `%s` printed %d lines, the README shows %d:\n%s" % (
                    block.where(), n, cmd, len(got), len(expected), show(expected, got)))
            for (ln, want), line in zip(expected, got):
                if not m.match(want, line, binds):
                    raise Failure("README.md:%d: `%s` printed\n    %s\n  where the README shows\n"
                                  "    %s\n  (masked: %s)" % (ln, cmd, line, want, [
                                      (norm(want)[a:b], k) for a, b, k in m.spans(norm(want))]))
        return "%d commands re-run, every line matches" % len(split_session(block))
    finally:
        for _, p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def show(expected, got):
    return "  README:\n    %s\n  printed:\n    %s" % ("\n    ".join(t for _, t in expected),
                                                   "\n    ".join(got))


def check_run(args, block, spec, env):
    lines = list(block.lines)
    command = spec.get("command")
    if command is None:
        if not lines or not lines[0][1].startswith("$ "):
            raise Failure("%s: a `run` block needs its command on its first line" % block.where())
        command = lines[0][1][2:]
        lines = lines[1:]
        for pattern, repl in spec.get("rewrite", []):
            command = re.sub(pattern, repl, command)
    command = command.replace("{build}", args.build_dir)
    checked, recorded, section = [], 0, ""
    for n, t in lines:
        note = re.search(r"\s{2,}(#.*)$", t)  # an annotation: it holds until the next one
        if note:
            section, t = note.group(1), t[:note.start()]
        if spec.get("only") and not re.search(spec["only"], section):
            recorded += 1
            continue
        checked.append((n, t))
    rc, out = sh(command, env, args.source_dir, timeout=120)
    if args.verbose:
        print("$ " + command + "\n" + out, end="")
    if rc != 0:
        raise Failure("%s: `%s` exited with %d:\n%s" % (block.where(), command, rc, out))
    got = out.rstrip("\n").split("\n")
    m = Matcher(spec["masks"], spec.get("keep", ()))
    used = set()
    for n, want in checked:
        hit = next((i for i, g in enumerate(got) if i not in used and m.match(want, g)), None)
        if hit is None:
            raise Failure("README.md:%d: no line of `%s` has this shape:\n    %s\n  printed:\n"
                          "    %s" % (n, command, want, "\n    ".join(got)))
        used.add(hit)
    note = "; %d recorded lines not run" % recorded if recorded else ""
    return "%d lines matched against a run of `%s`%s" % (len(checked), command, note)


def check_console(args, blocks):
    env = shell_env(args)
    failures = []
    for i, b in enumerate(blocks):
        if b.lang != "console":
            continue
        if b.marker == "output":
            prev = blocks[i - 1] if i else None
            if prev is None or prev.lang not in ("cpp", "c++"):
                failures.append("%s: an `output` block must follow a cpp program" % b.where())
            else:
                print("%s: the output of %s (checked by readme_samples)" % (b.where(),
                                                                            prev.where()))
            continue
        m = re.match(r"^console\s+(\S+)$", b.marker or "")
        if not m:
            failures.append("%s: a console block needs `<!-- readme: console ID -->` on the line "
                            "before it (ID: one of %s in test/readme_check.py)" % (
                                b.where(), ", ".join(sorted(CONSOLE))))
            continue
        spec = CONSOLE.get(m.group(1))
        if spec is None:
            failures.append("%s: no console check named %r in test/readme_check.py" % (
                b.where(), m.group(1)))
            continue
        t0 = time.monotonic()
        try:
            if spec["kind"] == "live":
                what = check_live(args, b, spec, env)
            elif spec["kind"] == "run":
                what = check_run(args, b, spec, env)
            else:
                what = "recorded, not run: " + spec["reason"]
            print("%s: console %s: %s (%.1f s)" % (b.where(), m.group(1), what,
                                                   time.monotonic() - t0))
        except Failure as e:
            failures.append(str(e))
        except subprocess.TimeoutExpired as e:
            failures.append("%s: timed out: %s" % (b.where(), e))
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["samples", "console"])
    p.add_argument("--readme", required=True)
    p.add_argument("--cxx")
    p.add_argument("--flag", action="append", default=[])
    p.add_argument("--include", action="append", default=[])
    p.add_argument("--system-include", action="append", default=[])
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--source-dir")
    p.add_argument("--build-dir")
    p.add_argument("--verbose", action="store_true", help="print what the commands printed")
    args = p.parse_args()
    args.flag = [f for f in args.flag if f]
    # Boost::boost names /usr/include on Debian: the compiler's own directory, which as -I or
    # -isystem would break libstdc++'s #include_next.
    implicit = ("/usr/include", "/usr/local/include")
    args.include = [d for d in args.include if d and d not in implicit]
    args.system_include = [d for d in args.system_include if d and d not in implicit]
    if args.mode == "console":
        needed = ("tools/venom", "example/venom_market_feed", "example/venom_kv_service")
        missing = [p for p in needed
                   if not os.access(os.path.join(args.build_dir or ".", p), os.X_OK)]
        if missing:
            print("FAIL not built in %s: %s (targets venom_cli and the examples)" % (
                args.build_dir, ", ".join(missing)))
            return 1
    rc = in_private_shm(sys.argv[1:])
    if rc is not None:
        return rc
    if os.environ.get(NS_ENV) != "1":
        if args.mode == "console":
            print("no private /dev/shm (unshare --mount, as root or in a user namespace, "
                  "failed): the console samples need one; skipped")
            return SKIP
        print("note: no private /dev/shm; the programs run against the machine's")
    try:
        blocks = parse(args.readme)
        if args.mode == "samples":
            return check_samples(args, blocks)
        return check_console(args, blocks)
    except Failure as e:
        print("FAIL " + str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
