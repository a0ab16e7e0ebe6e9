#!/usr/bin/env python3
"""Checks the ESP32 packaging files against the fields their tools document,
and emulates what PlatformIO builds from library.json. Used by esp32-check.sh.

  packaging.py validate ROOT [ARDUINO_LIB_DIR [IDF_COMPONENT_DIR]]
                                                 all checks; exit 1 with one line per problem
  packaging.py license ROOT [ARDUINO_LIB_DIR [IDF_COMPONENT_DIR]]   the license checks alone
  packaging.py pio-sources ROOT                  sources PlatformIO compiles (library.json build.srcDir + srcFilter)
  packaging.py pio-includes ROOT                 include dirs it adds (build.includeDir + "-I" flags)

Sources of the rules:
- library.json: PlatformIO docs, manifests/library-json/fields (name, version,
  description, keywords, frameworks, platforms, dependencies, build.srcDir,
  build.srcFilter, build.includeDir, build.flags: "-I" paths are relative to
  the folder of library.json, export, examples).
- library.properties: Arduino library specification rev. 2.2 (all fields
  required except category, architectures, depends, dot_a_linkage, includes,
  precompiled, ldflags; name characters; semver; category values; the file in
  the library root; sources in src/).
- idf_component.yml: idf-component-manager docs, reference/manifest_file.rst
  (top-level fields, `idf` dependency, file in the component root).
- partitions.csv: ESP-IDF partition-tables guide (app partitions 64 KiB
  aligned, otadata 0x2000, custom types 0x40-0xFE).
"""
import configparser
import csv
import fnmatch
import json
import os
import re
import sys

try:
    import yaml  # Debian's python3-yaml (DEB_PACKAGES)
except ImportError:
    sys.exit("packaging.py needs Python's yaml module: install python3-yaml (make deps)")

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)


# --- library.json -----------------------------------------------------------

LIBJSON_FIELDS = {"name", "version", "description", "keywords", "authors", "repository", "homepage", "license",
                  "headers", "frameworks", "platforms", "dependencies", "export", "examples", "build", "scripts",
                  "$schema", "system", "downloadUrl"}
LIBJSON_BUILD = {"flags", "unflags", "includeDir", "srcDir", "srcFilter", "extraScript", "libArchive", "libLDFMode",
                 "libCompatMode", "builder"}
FRAMEWORKS = {"arduino", "espidf", "*"}


def as_list(v):
    return v if isinstance(v, list) else [v] if isinstance(v, str) else []


def filter_entries(src_filter):
    """PlatformIO's srcFilter: "+<pattern>" / "-<pattern>" items, a string or a list."""
    text = " ".join(as_list(src_filter))
    return re.findall(r"([+-])<([^>]*)>", text)


def pio_sources(root):
    lib = json.load(open(os.path.join(root, "library.json")))
    build = lib.get("build", {})
    src_dir = os.path.normpath(os.path.join(root, build.get("srcDir", "src")))
    files = []
    for dirpath, _, names in os.walk(src_dir):
        for n in names:
            files.append(os.path.relpath(os.path.join(dirpath, n), src_dir))
    chosen = set()
    for sign, pattern in filter_entries(build.get("srcFilter", "+<*>")):
        pat = pattern.rstrip("/")
        matched = {f for f in files if fnmatch.fnmatch(f, pat) or f.startswith(pat + os.sep) or pat == "*"}
        chosen = chosen | matched if sign == "+" else chosen - matched
    exts = (".c", ".cpp", ".cc", ".cxx", ".S")
    return src_dir, sorted(os.path.join(src_dir, f) for f in chosen if f.endswith(exts))


def pio_includes(root):
    lib = json.load(open(os.path.join(root, "library.json")))
    build = lib.get("build", {})
    dirs = [os.path.normpath(os.path.join(root, build.get("includeDir", "include")))]
    for flag in as_list(build.get("flags", [])):
        for m in re.finditer(r"-I\s*(\S+)", flag):
            dirs.append(os.path.normpath(os.path.join(root, m.group(1))))
    return dirs


def check_library_json(root):
    path = os.path.join(root, "library.json")
    try:
        lib = json.load(open(path))
    except (OSError, ValueError) as e:
        problem(f"library.json: {e}")
        return
    for k in lib:
        if k not in LIBJSON_FIELDS:
            problem(f"library.json: unknown field {k!r}")
    name = lib.get("name", "")
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name) or len(name) > 50:
        problem("library.json: name must be a slug (a-z, digits, single dashes), at most 50 characters")
    if not SEMVER.match(str(lib.get("version", ""))) or len(str(lib.get("version"))) > 20:
        problem("library.json: version must be semver, at most 20 characters")
    if not lib.get("description") or len(lib["description"]) > 255:
        problem("library.json: description is required, at most 255 characters")
    for fw in as_list(lib.get("frameworks", [])):
        if fw not in FRAMEWORKS:
            problem(f"library.json: unexpected framework {fw!r}")
    for dep in lib.get("dependencies", []):
        if not isinstance(dep, dict) or not dep.get("name") or not dep.get("version"):
            problem(f"library.json: dependency without name/version: {dep!r}")
    build = lib.get("build", {})
    for k in build:
        if k not in LIBJSON_BUILD:
            problem(f"library.json: unknown build field {k!r}")
    src_dir = os.path.join(root, build.get("srcDir", "src"))
    for sign, pattern in filter_entries(build.get("srcFilter", "")):
        if sign == "+" and "*" not in pattern and not os.path.exists(os.path.join(src_dir, pattern)):
            problem(f"library.json: srcFilter +<{pattern}> names nothing")
    for d in pio_includes(root):
        if not os.path.isdir(d):
            problem(f"library.json: include dir {os.path.relpath(d, root)} does not exist")
    _, sources = pio_sources(root)
    if not sources:
        problem("library.json: srcFilter selects no source file")
    for p in as_list(lib.get("export", {}).get("include", [])):
        if not os.path.exists(os.path.join(root, p)):
            problem(f"library.json: export.include {p} does not exist")
    for ex in lib.get("examples", []):
        for f in ex.get("files", []):
            if not os.path.isfile(os.path.join(root, ex.get("base", ""), f)):
                problem(f"library.json: example file {ex.get('base')}/{f} does not exist")
    for h in as_list(lib.get("headers", [])):
        if not any(os.path.isfile(os.path.join(d, h)) for d in pio_includes(root)):
            problem(f"library.json: header {h} is in no include dir")


# --- library.properties -----------------------------------------------------

PROPS_REQUIRED = ["name", "version", "author", "maintainer", "sentence", "paragraph", "url"]
PROPS_OPTIONAL = ["category", "architectures", "depends", "dot_a_linkage", "includes", "precompiled", "ldflags"]
CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
              "Data Storage", "Data Processing", "Other", "Uncategorized"}


def check_library_properties(path, lib_dir=None):
    props = {}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        problem(f"library.properties: {e}")
        return
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "=" not in line:
            problem(f"library.properties:{n}: not key=value")
            continue
        k, v = line.split("=", 1)
        props[k.strip()] = v.strip()
    for k in PROPS_REQUIRED:
        if not props.get(k):
            problem(f"library.properties: required field {k} missing")
    for k in props:
        if k not in PROPS_REQUIRED and k not in PROPS_OPTIONAL:
            problem(f"library.properties: unknown field {k}")
    name = props.get("name", "")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]*", name) or not re.search(r"[A-Za-z]", name) or len(name) > 63:
        problem("library.properties: name: letters, digits, space _ . -, starting with a letter or digit")
    if name.startswith("Arduino"):
        problem("library.properties: names starting with Arduino are reserved")
    if not SEMVER.match(props.get("version", "")):
        problem("library.properties: version is not semver")
    if props.get("category", "Uncategorized") not in CATEGORIES:
        problem(f"library.properties: category {props.get('category')!r} is not allowed")
    if lib_dir:
        for inc in [i.strip() for i in props.get("includes", "").split(",") if i.strip()]:
            if not os.path.isfile(os.path.join(lib_dir, "src", inc)):
                problem(f"library.properties: includes={inc} is not in src/")
        if not os.path.isdir(os.path.join(lib_dir, "src")):
            problem("Arduino library: no src/ folder")
        if os.path.basename(lib_dir) != name:
            problem("Arduino library: the folder is not named after the library")


# --- idf_component.yml ------------------------------------------------------

IDF_FIELDS = {"version", "description", "url", "repository", "repository_info", "license", "tags", "files",
              "dependencies", "targets", "maintainers", "examples", "documentation", "issues", "discussion"}


def check_idf_component(comp_dir):
    path = os.path.join(comp_dir, "idf_component.yml")
    try:
        text = open(path).read()
        doc = yaml.safe_load(text)
    except Exception as e:  # OSError, yaml.YAMLError, ValueError
        problem(f"idf_component.yml: {e}")
        return
    if not isinstance(doc, dict):
        problem("idf_component.yml: not a mapping")
        return
    for k in doc:
        if k not in IDF_FIELDS:
            problem(f"idf_component.yml: unknown field {k!r}")
    if not SEMVER.match(str(doc.get("version", ""))):
        problem("idf_component.yml: version is not semver")
    deps = doc.get("dependencies", {})
    idf = deps.get("idf") if isinstance(deps, dict) else None
    idf = idf.get("version") if isinstance(idf, dict) else idf
    if not isinstance(idf, str) or not re.match(r"^[<>=~^]*\d", idf):
        problem("idf_component.yml: dependencies.idf must be a version range")
    files = doc.get("files", {})
    if files and not set(files) <= {"use_gitignore", "include", "exclude"}:
        problem("idf_component.yml: files takes use_gitignore, include, exclude")
    if not os.path.isfile(os.path.join(comp_dir, "CMakeLists.txt")):
        problem("idf_component.yml: no CMakeLists.txt beside it (the component root)")
    elif "idf_component_register(" not in open(os.path.join(comp_dir, "CMakeLists.txt")).read():
        problem("component CMakeLists.txt does not call idf_component_register")


# --- partition tables, sdkconfig.defaults, platformio.ini --------------------

def num(s):
    s = s.strip()
    if s.upper().endswith("K"):
        return int(s[:-1], 0) * 1024
    if s.upper().endswith("M"):
        return int(s[:-1], 0) * 1024 * 1024
    return int(s, 0)


def check_partitions(path, flash_size=4 * 1024 * 1024):
    rows = []
    for row in csv.reader(open(path)):
        if not row or row[0].strip().startswith("#"):
            continue
        rows.append([c.strip() for c in row] + [""] * (6 - len(row)))
    names = {}
    end_prev = 0x9000  # after the partition table (0x8000, 0x1000 long)
    for name, ptype, sub, off, size, _flags in (r[:6] for r in rows):
        o, s = num(off), num(size)
        if o < end_prev:
            problem(f"{path}: {name} at {off} overlaps the previous partition")
        end_prev = o + s
        if o % 0x1000 or s % 0x1000:
            problem(f"{path}: {name} is not 4 KiB aligned")
        if ptype == "app" and o % 0x10000:
            problem(f"{path}: app partition {name} is not 64 KiB aligned")
        names[name] = (ptype, sub, o, s)
    if end_prev > flash_size:
        problem(f"{path}: the table ends at {end_prev:#x}, past a 4 MB flash")
    for need, (ptype, sub) in {"ota_0": ("app", "ota_0"), "ota_1": ("app", "ota_1"), "otadata": ("data", "ota"),
                               "nvs": ("data", "nvs")}.items():
        if names.get(need, (None, None))[:2] != (ptype, sub):
            problem(f"{path}: needs {need} ({ptype}, {sub})")
    if any(v[0] == "app" and v[1] == "factory" for v in names.values()):
        problem(f"{path}: a factory app is not supported (the agent runs from ota_0/ota_1)")
    if names.get("otadata", (0, 0, 0, 0))[3] != 0x2000:
        problem(f"{path}: otadata must be 0x2000 bytes")
    if "ota_0" in names and "ota_1" in names and names["ota_0"][3] != names["ota_1"][3]:
        problem(f"{path}: ota_0 and ota_1 differ in size")
    st = names.get("otastate")
    if not st or num(st[0]) < 0x40 or num(st[0]) > 0xFE or st[3] < 0x10000 or st[3] % 0x2000:
        problem(f"{path}: otastate must be an application-defined type (0x40-0xFE), >= 64 KiB, two whole halves")
    return names


def check_sdkconfig(path):
    text = open(path).read()
    for line in ("CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y", "CONFIG_PARTITION_TABLE_CUSTOM=y",
                 'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"'):
        if line not in text.splitlines():
            problem(f"{path}: missing {line}")


def check_platformio_ini(path):
    ini = configparser.ConfigParser()
    ini.read(path)
    env = "env:esp32dev"
    if env not in ini:
        problem(f"{path}: no [{env}]")
        return
    e = ini[env]
    want = {"board": "esp32dev", "framework": "arduino", "monitor_speed": "115200",
            "board_build.filesystem": "littlefs", "board_build.partitions": "partitions.csv"}
    for k, v in want.items():
        if e.get(k, "").strip() != v:
            problem(f"{path}: {k} should be {v}")
    deps = e.get("lib_deps", "")
    for lib in ("Adafruit SSD1306", "Adafruit GFX Library", "symlink://"):
        if lib not in deps:
            problem(f"{path}: lib_deps lacks {lib}")
    if not os.path.isfile(os.path.join(os.path.dirname(path), "partitions.csv")):
        problem(f"{path}: partitions.csv is missing beside it")


# --- the license -------------------------------------------------------------

SPDX = "Apache-2.0"


def check_license(root, arduino_lib=None, idf_component=None):
    """Apache-2.0 everywhere a user of a package looks: the repository's
    LICENSE, library.json's license and authors, idf_component.yml's
    license, library.properties' SPDX comment (the Arduino specification has
    no license field), and the LICENSE file in each generated package."""
    license_path = os.path.join(root, "LICENSE")
    try:
        text = open(license_path, encoding="utf-8").read()
    except OSError:
        problem("LICENSE: missing at the repository root")
        return
    if "Apache License" not in text or "Version 2.0, January 2004" not in text:
        problem("LICENSE: not the Apache License, Version 2.0")
    try:
        lib = json.load(open(os.path.join(root, "library.json")))
    except (OSError, ValueError):
        lib = {}
    if lib.get("license") != SPDX:
        problem(f"library.json: license must be the SPDX identifier {SPDX!r}")
    if not lib.get("authors") or not all(isinstance(a, dict) and a.get("name") for a in lib["authors"]):
        problem("library.json: authors (a list of objects with a name) is missing")
    if "LICENSE" not in as_list(lib.get("export", {}).get("include", [])):
        problem("library.json: export.include must carry LICENSE")
    yml = open(os.path.join(root, "device/ports/esp32/ota_agent/idf_component.yml")).read()
    if not re.search(r'^license:\s*"?' + re.escape(SPDX) + r'"?\s*$', yml, re.M):
        problem(f"idf_component.yml: license must be {SPDX!r}")
    props = open(os.path.join(root, "device/ports/esp32/arduino/library.properties")).read()
    if f"# SPDX-License-Identifier: {SPDX}" not in props:
        problem("library.properties: no SPDX-License-Identifier comment")
    for kind, d in (("Arduino library", arduino_lib), ("ESP-IDF component", idf_component)):
        if d is None:
            continue
        copy = os.path.join(d, "LICENSE")
        if not os.path.isfile(copy) or open(copy, encoding="utf-8").read() != text:
            problem(f"{kind} {d}: LICENSE is missing or differs from the repository's")


def validate(root, arduino_lib=None, idf_component=None):
    check_license(root, arduino_lib, idf_component)
    check_library_json(root)
    check_library_properties(os.path.join(root, "device/ports/esp32/arduino/library.properties"))
    if arduino_lib:
        check_library_properties(os.path.join(arduino_lib, "library.properties"), arduino_lib)
    check_idf_component(os.path.join(root, "device/ports/esp32/ota_agent"))
    if idf_component:
        check_idf_component(idf_component)
    a = check_partitions(os.path.join(root, "examples/esp32-client/partitions.csv"))
    b = check_partitions(os.path.join(root, "examples/esp-idf-client/partitions.csv"))
    if a != b:
        problem("the two examples' partition tables differ")
    check_sdkconfig(os.path.join(root, "examples/esp-idf-client/sdkconfig.defaults"))
    check_platformio_ini(os.path.join(root, "examples/esp32-client/platformio.ini"))
    for p in PROBLEMS:
        print(f"packaging: {p}")
    if not PROBLEMS:
        print("packaging: LICENSE, library.json, library.properties, idf_component.yml, partition tables, "
              "sdkconfig.defaults, platformio.ini: OK")
    return 1 if PROBLEMS else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "validate":
        return validate(argv[2], argv[3] if len(argv) > 3 else None, argv[4] if len(argv) > 4 else None)
    if len(argv) >= 3 and argv[1] == "license":
        check_license(argv[2], argv[3] if len(argv) > 3 else None, argv[4] if len(argv) > 4 else None)
        for p in PROBLEMS:
            print(f"packaging: {p}")
        return 1 if PROBLEMS else 0
    if len(argv) == 3 and argv[1] == "pio-sources":
        print("\n".join(pio_sources(argv[2])[1]))
        return 0
    if len(argv) == 3 and argv[1] == "pio-includes":
        print("\n".join(pio_includes(argv[2])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
