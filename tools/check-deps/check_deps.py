#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""check_deps: is every file of the machine that the build and the tests used
installed by `make deps` on a fresh Debian 12?

A warm machine passes a build that a fresh one fails: a header, a library or
a program that someone installed by hand is found, and nothing says so. This
check reads what the build and the test run really used, from their own
records, finds the Debian package that owns each file, and checks that the
package is in the Makefile's lists or in the closure of their Depends and
Pre-Depends (Recommends do not count: `make deps` installs with
--no-install-recommends), or on a fresh system already (debootstrap's
minbase: the packages of priority required, and apt; plus make and git,
which a newcomer needs to get the code).

The records:
  * Ninja's deps log (`ninja -t deps`) of every Ninja build under the build
    directories: each system header each object included;
  * Ninja's inputs (`ninja -t inputs all`): the libraries each link reads;
  * CMakeCache.txt: the FILEPATH entries configure found (compilers,
    programs, libraries);
  * every ELF executable and shared object in the build directories, through
    `ldd`: the shared libraries it loads;
  * the log of libota_deps_record.so (record.c), preloaded into the test run:
    the programs the tests and scripts ran, the files they opened under the
    system prefixes (headers a compiler in a script read, Python modules),
    and the shared objects they loaded with dlopen.

A file no package owns is an error too when it is a program, a library, a
header or a Python module (a pyenv interpreter, a library in /usr/local): a
fresh machine will not have it either. Other files no package owns (caches
such as locale-archive) are ignored.

Exit status: 0 when everything is covered, 1 when something is missing (each
missing package is printed with the files that need it), 2 on a usage error.
"""

import argparse
import collections
import os
import re
import shlex
import subprocess
import sys

# Always on a debootstrap --variant=minbase system besides priority
# `required`; make and git are what a newcomer installs to get the code.
FRESH_EXTRA = ("apt", "make", "git")

# Record kinds whose unowned files are errors (see the module comment).
STRICT_KINDS = {"header", "link", "cmake", "ldd", "exe", "exec", "dlopen"}

# Programs that library code runs when present and does well without: their
# use (and everything they open) is not a need. Each entry says why.
OPTIONAL_PROGRAMS = {
    # Python's platform.architecture() (pycryptodome calls it) asks file(1)
    # and falls back to the interpreter's own pointer size.
    "/usr/bin/file": "python's platform.architecture() probes it",
}

# Files Python's site.py reads at every start for whatever happens to be
# installed: every .pth file in site-packages, and what a .pth imports
# (setuptools' distutils-precedence.pth imports _distutils_hack). Present
# or not, no program of ours depends on them.
PYTHON_SITE_SIDE_EFFECTS = re.compile(
    r"^/usr/(local/)?lib/python3[^/]*/(dist|site)-packages/([^/]+\.pth|_distutils_hack/.*)$")

# Paths that are not the machine's software: the kernel's views, scratch
# space. The source, build and shared trees are added from the arguments.
IGNORED_PREFIXES = ("/proc/", "/sys/", "/dev/", "/run/", "/tmp/", "/var/tmp/")


class Use:
    """One file used, with what used it (for the report)."""

    __slots__ = ("path", "kind", "by")

    def __init__(self, path, kind, by):
        self.path, self.kind, self.by = path, kind, by

    # Each kind of record, as the report says it.
    KINDS = {
        "header": "included by",
        "link": "linked into",
        "cmake": "found by configure as",
        "ldd": "loaded by",
        "exe": "run as",
        "exec": "started by",
        "open": "opened by",
        "dlopen": "dlopen'd by",
    }

    def describe(self):
        return f"{self.path} ({self.KINDS[self.kind]} {self.by})"


# --- the package database ----------------------------------------------------


class Packages:
    """The installed packages of a dpkg database (its status file and the
    info/*.list file lists), as `dpkg -S` and apt see them."""

    def __init__(self, admindir):
        self.admindir = admindir
        self.installed = {}  # name -> fields
        self.providers = collections.defaultdict(set)  # virtual name -> packages
        self.owner = collections.defaultdict(set)  # path -> packages
        self._read_status()
        self._read_lists()
        self._read_diversions()

    def _read_status(self):
        with open(os.path.join(self.admindir, "status"), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for stanza in text.split("\n\n"):
            fields, key = {}, None
            for line in stanza.splitlines():
                if line.startswith((" ", "\t")) and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, _, value = line.partition(":")
                    fields[key] = value.strip()
            name = fields.get("Package")
            if not name or not fields.get("Status", "").endswith(" installed"):
                continue
            old = self.installed.get(name)
            if old:  # a second architecture of a Multi-Arch: same package
                for k in ("Depends", "Pre-Depends", "Provides"):
                    if fields.get(k):
                        old[k] = ", ".join(x for x in (old.get(k), fields[k]) if x)
                continue
            self.installed[name] = fields
        for name, fields in self.installed.items():
            for alt in self.relations(fields.get("Provides", "")):
                for provided in alt:
                    self.providers[provided].add(name)

    def _read_lists(self):
        info = os.path.join(self.admindir, "info")
        for entry in os.listdir(info):
            if not entry.endswith(".list"):
                continue
            name = entry[: -len(".list")].split(":", 1)[0]
            with open(os.path.join(info, entry), encoding="utf-8", errors="replace") as f:
                for line in f:
                    path = line.rstrip("\n")
                    if path and path != "/.":
                        self.owner[path].add(name)

    def _read_diversions(self):
        # dpkg-divert moves a package's file aside: the diverted-to path
        # belongs to the package whose file it is.
        path = os.path.join(self.admindir, "diversions")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [l.rstrip("\n") for l in f]
        for i in range(0, len(lines) - 2, 3):
            original, diverted, by = lines[i : i + 3]
            if by != ":" and original in self.owner:
                self.owner[diverted] |= {p for p in self.owner[original] if p != by}

    @staticmethod
    def relations(text):
        """[[alternative, ...], ...] for a Depends-like field, names only."""
        out = []
        for group in text.split(","):
            alts = []
            for alt in group.split("|"):
                name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip()
                name = name.split(":", 1)[0]  # python3:any
                if name:
                    alts.append(name)
            if alts:
                out.append(alts)
        return out

    def _resolve(self, name):
        """The installed packages that satisfy the relation name `name`
        (the package itself, else the installed providers of a virtual)."""
        if name in self.installed:
            return {name}
        return set(self.providers.get(name, ()))

    def closure(self, roots):
        """Every package installed with `roots` through Depends and
        Pre-Depends. For `a | b` a fresh apt installs `a` (the first
        alternative), so only the first counts, whatever this machine has."""
        seen, todo = set(), list(roots)
        while todo:
            name = todo.pop()
            for pkg in self._resolve(name):
                if pkg in seen:
                    continue
                seen.add(pkg)
                fields = self.installed[pkg]
                for field in ("Pre-Depends", "Depends"):
                    for alts in self.relations(fields.get(field, "")):
                        todo.append(alts[0])
        return seen

    def fresh_system(self):
        """What debootstrap --variant=minbase installs, plus make and git."""
        base = [n for n, f in self.installed.items()
                if f.get("Priority") == "required" or f.get("Essential") == "yes"]
        return base + [p for p in FRESH_EXTRA if p in self.installed]

    def reverse_depends(self, pkg):
        """Installed packages that Depend on `pkg` (to suggest a metapackage,
        e.g. libboost-dev for libboost1.74-dev)."""
        out = []
        for name, fields in self.installed.items():
            for alts in self.relations(fields.get("Depends", "")):
                if pkg in alts:
                    out.append(name)
                    break
        return sorted(out)

    def owners(self, path):
        """The packages that own `path`, through symlinks and the merged /usr
        (dpkg lists /lib/x/libc.so.6 where the loader says /usr/lib/...)."""
        found = set()
        for candidate in path_variants(path):
            found |= self.owner.get(candidate, set())
        return found


def usrmerge_variants(path):
    out = [path]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        if path.startswith(f"/{top}/"):
            out.append("/usr" + path)
        elif path.startswith(f"/usr/{top}/"):
            out.append(path[len("/usr"):])
    return out


def path_variants(path):
    """`path` as recorded, with its directories resolved, and fully resolved."""
    forms = [os.path.normpath(path)]
    parent = os.path.realpath(os.path.dirname(path))
    forms.append(os.path.join(parent, os.path.basename(path)))
    forms.append(os.path.realpath(path))
    out = []
    for form in forms:
        for v in usrmerge_variants(form):
            if v not in out:
                out.append(v)
    return out


# --- the records ---------------------------------------------------------------


def run(cmd, cwd=None):
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, errors="replace", check=False).stdout


def ninja_dirs(build_dir, shallow):
    """The Ninja builds under build_dir: its own, and those its tests made
    (the fuzz build, the ESP-IDF component check) unless `shallow`."""
    if shallow:
        if os.path.exists(os.path.join(build_dir, ".ninja_deps")):
            yield build_dir
        return
    for root, dirs, files in os.walk(build_dir):
        if ".ninja_deps" in files and "build.ninja" in files:
            yield root
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "CMakeFiles"]


def ninja_records(ninja, build_dir, shallow):
    uses = []
    for d in ninja_dirs(build_dir, shallow):
        target = None
        for line in run([ninja, "-C", d, "-t", "deps"]).splitlines():
            if not line.strip():
                continue
            if not line.startswith((" ", "\t")):
                target = os.path.join(d, line.split(":", 1)[0])
                continue
            uses.append(Use(os.path.join(d, line.strip()), "header", target))
        for line in run([ninja, "-C", d, "-t", "inputs", "all"]).splitlines():
            if line.startswith("/"):
                uses.append(Use(line.strip(), "link", f"a link in {d}"))
    return uses


def cmake_entry_is_a_need(name):
    """Our own find_* results and the compilers are needs. CMake's probes for
    archivers, linkers and binutils (CMAKE_AR, CMAKE_LINKER, llvm-ar for
    clang, ...) are choices among what is present, each with a binutils
    fallback: not needs."""
    if not name.startswith("CMAKE_"):
        return True
    return name in ("CMAKE_C_COMPILER", "CMAKE_CXX_COMPILER", "CMAKE_MAKE_PROGRAM") or \
        name.endswith("_COMPILER_LAUNCHER")


def cmake_cache_records(build_dir, shallow):
    uses = []
    for root, dirs, files in os.walk(build_dir):
        if shallow and root != build_dir:
            break
        if "CMakeCache.txt" in files:
            with open(os.path.join(root, "CMakeCache.txt"), errors="replace") as f:
                for line in f:
                    m = re.match(r"^([^#/][^:]*):FILEPATH=(/.+)$", line.rstrip("\n"))
                    if m and os.path.isfile(m.group(2)) and cmake_entry_is_a_need(m.group(1)):
                        uses.append(Use(m.group(2), "cmake", m.group(1)))
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "CMakeFiles"]
    return uses


def is_host_elf(path):
    """An x86-64 (this machine's) ELF executable or shared object."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return False
    e_type = int.from_bytes(head[16:18], "little")
    e_machine = int.from_bytes(head[18:20], "little")
    return e_type in (2, 3) and e_machine == 62  # ET_EXEC/ET_DYN, EM_X86_64


def elf_records(build_dir, shallow):
    files = []
    for root, dirs, names in os.walk(build_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "CMakeFiles"]
        if shallow and root == build_dir:
            dirs[:] = [d for d in dirs if d in ("bin", "lib")]
        for n in names:
            p = os.path.join(root, n)
            if not n.endswith((".o", ".a")) and os.path.isfile(p) and not os.path.islink(p) \
                    and is_host_elf(p):
                files.append(p)
    uses, problems = [], []
    for i in range(0, len(files), 64):
        batch = files[i : i + 64]
        current = batch[0]
        for line in run(["ldd"] + batch).splitlines():
            if not line.startswith(("\t", " ")) and line.endswith(":"):
                current = line[:-1]
                continue
            line = line.strip()
            if "=> not found" in line:
                problems.append(f"{current}: needs {line.split()[0]}, which is not installed")
                continue
            m = re.search(r"=> (/\S+)", line) or re.match(r"(/\S+) \(0x", line)
            if m:
                uses.append(Use(m.group(1), "ldd", current if len(batch) > 1 else batch[0]))
    return uses, problems


def log_records(path):
    uses = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[0] in Use.KINDS:
                uses.append(Use(parts[1], parts[0], parts[2] if len(parts) > 2 else "?"))
    return uses


# --- the check -------------------------------------------------------------------


def python_source(path):
    """A module's .py for its byte code in __pycache__ (Debian compiles those
    at install time, so no package lists them)."""
    m = re.match(r"^(.*)/__pycache__/([^/]+?)\.[^./]+(\.opt-\d)?\.pyc$", path)
    return f"{m.group(1)}/{m.group(2)}.py" if m else path


def is_python_module(path):
    return "/python" in path and path.endswith((".py", ".pyc", ".so"))


def check(uses, pkgs, listed, ignored_roots, out):
    """Prints what is missing to `out`; returns the number of problems."""
    problems = 0
    not_installed = [p for p in listed if not pkgs._resolve(p)]
    for p in not_installed:
        print(f"check-deps: {p} is in the Makefile's lists but not installed (run make deps)", file=out)
        problems += 1
    fresh = pkgs.fresh_system()
    closure = pkgs.closure(list(listed) + fresh)

    missing = collections.OrderedDict()  # package -> [Use]
    unowned = collections.OrderedDict()  # path -> Use
    seen = set()
    for use in uses:
        path = os.path.normpath(use.path)
        if path in OPTIONAL_PROGRAMS or use.by in OPTIONAL_PROGRAMS or \
                PYTHON_SITE_SIDE_EFFECTS.match(path):
            continue
        if not path.startswith("/") or path.startswith(IGNORED_PREFIXES) or \
                any(path == r or path.startswith(r + "/") for r in ignored_roots):
            continue
        path = python_source(path)
        key = (path, use.kind in STRICT_KINDS or is_python_module(path))
        if key in seen:
            continue
        seen.add(key)
        if os.path.isdir(path):
            continue
        owners = pkgs.owners(path)
        if not owners:
            if (use.kind in STRICT_KINDS or is_python_module(path)) and path not in unowned:
                unowned[path] = Use(path, use.kind, use.by)
            continue
        if owners & closure:
            continue
        missing.setdefault(sorted(owners)[0], []).append(Use(path, use.kind, use.by))

    for pkg, pkg_uses in missing.items():
        problems += 1
        hint = [r for r in pkgs.reverse_depends(pkg) if not r.startswith(pkg)][:3]
        via = f" (or a package that depends on it: {', '.join(hint)})" if hint else ""
        print(f"check-deps: missing package {pkg}{via}, needed for {len(pkg_uses)} file(s), e.g.",
              file=out)
        for use in pkg_uses[:3]:
            print(f"    {use.describe()}", file=out)
    for path, use in unowned.items():
        problems += 1
        print(f"check-deps: {use.describe()} belongs to no Debian package: a fresh machine "
              f"does not have it", file=out)
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", action="append", default=[],
                    help="the Makefile's package list (space-separated; repeatable)")
    ap.add_argument("--build-dir", action="append", default=[],
                    help="a build tree to read Ninja, CMake and ELF records from (repeatable)")
    ap.add_argument("--record", action="append", default=[],
                    help="a log written by libota_deps_record.so (repeatable)")
    ap.add_argument("--ignore", action="append", default=[],
                    help="a tree whose files are not the machine's (the source, ../shared)")
    ap.add_argument("--admindir", default="/var/lib/dpkg", help="dpkg's database (tests)")
    ap.add_argument("--ninja", default="ninja")
    ap.add_argument("--shallow", action="store_true",
                    help="only each build directory's own build (not the trees its tests made)")
    ap.add_argument("--list-owners", action="store_true",
                    help="print each package used with a file that needs it, then check")
    args = ap.parse_args(argv)

    listed = [p for arg in args.packages for p in shlex.split(arg)]
    if not listed:
        ap.error("--packages is required")
    uses, problems = [], 0
    for d in args.build_dir:
        if not os.path.isdir(d):
            print(f"check-deps: build directory {d} does not exist (build first)", file=sys.stderr)
            return 2
        uses += ninja_records(args.ninja, d, args.shallow)
        uses += cmake_cache_records(d, args.shallow)
        elf_uses, elf_problems = elf_records(d, args.shallow)
        uses += elf_uses
        for p in elf_problems:
            print(f"check-deps: {p}", file=sys.stdout)
        problems += len(elf_problems)
    for r in args.record:
        if os.path.exists(r):
            uses += log_records(r)
        else:
            print(f"check-deps: no record log {r} (was the test run recorded?)", file=sys.stderr)
            return 2

    pkgs = Packages(args.admindir)
    ignored = [os.path.realpath(p) for p in args.ignore + args.build_dir]
    if args.list_owners:
        first = {}
        for use in uses:
            for o in pkgs.owners(use.path):
                first.setdefault(o, use)
        for o in sorted(first):
            print(f"{o}\t{first[o].describe()}")
    problems += check(uses, pkgs, listed, ignored, sys.stdout)
    kinds = collections.Counter(u.kind for u in uses)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    if problems:
        print(f"check-deps: FAILED, {problems} problem(s) in {len(uses)} records ({summary}); "
              f"add the missing packages to DEB_PACKAGES in the Makefile")
        return 1
    print(f"check-deps: ok, {len(uses)} records ({summary}); every file comes from "
          f"the Makefile's {len(listed)} packages, their Depends, or a fresh Debian 12")
    return 0


if __name__ == "__main__":
    sys.exit(main())
