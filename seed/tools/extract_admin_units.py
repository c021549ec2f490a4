"""Extract Vietnam's administrative units (facts only) into ``seed/data/admin_*.csv``.

Where the facts come from
-------------------------
The official catalogue of administrative units (danhmuchanhchinh.nso.gov.vn, General Statistics
Office / NSO), as scraped on 2026-09-20 and shipped inside the PyPI wheel ``vietnam-provinces``
2026.9.0 (``__data_version__ = "2026-09-20"``). That package is GPL-3.0; we neither import nor copy
its code. This script only *reads* its data files as text — through ``ast`` (nothing is executed)
the literal tables of the current units, of the pre-2025 units and of the 2025 ward conversion
(source "BangChuyendoiĐVHCmoi_cu_khong_merge.csv") — and writes the names, codes and mappings in
our own CSV format. The package's JSON copy of the current units lags its tables for three
provinces (it still says "Tỉnh" for Quảng Ninh, Bắc Ninh and Đồng Nai, which the 2026-09 tables
list as centrally-run cities, rules document §7.1); we follow the tables and report the difference.

The province-level merger mapping (63 -> 34, Resolution 202/2025/QH15) is NOT taken from the
package: its conversion data tags legacy ward 27691 (Long An) as Tiền Giang, which makes Tiền Giang
look split between Tây Ninh and Đồng Tháp. We use the corrected table from the project's rules
document (§1.3) and check every legacy ward's conversion against it.

Usage (the wheel unpacked, e.g. ``pip download --no-deps --python-version 3.12
--only-binary=:all: vietnam-provinces==2026.9.0`` then ``unzip``)::

    python seed/tools/extract_admin_units.py UNPACKED_WHEEL/vietnam_provinces
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
EXPECTED_DATA_VERSION = "2026-09-20"

# Rules document §1.3: legacy (pre-2025-07-01) province code -> current (34-unit) province code.
LEGACY_TO_CURRENT: dict[int, int] = {
    1: 1, 2: 8, 4: 4, 6: 19, 8: 8, 10: 15, 11: 11, 12: 12, 14: 14, 15: 15, 17: 25, 19: 19,
    20: 20, 22: 22, 24: 24, 25: 25, 26: 25, 27: 24, 30: 31, 31: 31, 33: 33, 34: 33, 35: 37,
    36: 37, 37: 37, 38: 38, 40: 40, 42: 42, 44: 44, 45: 44, 46: 46, 48: 48, 49: 48, 51: 51,
    52: 52, 54: 66, 56: 56, 58: 56, 60: 68, 62: 51, 64: 52, 66: 66, 67: 68, 68: 68, 70: 75,
    72: 80, 74: 79, 75: 75, 77: 79, 79: 79, 80: 80, 82: 82, 83: 86, 84: 86, 86: 86, 87: 82,
    89: 91, 91: 91, 92: 92, 93: 92, 94: 92, 95: 96, 96: 96,
}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip())


def module_assignments(path: Path) -> dict[str, ast.expr]:
    """Top-level ``NAME = value`` / ``NAME: T = value`` of a module, parsed, never executed."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.value:
            found[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            found[node.target.id] = node.value
    return found


def enum_values(path: Path, class_name: str) -> dict[str, str]:
    """Member name -> string value of a string enum declared in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {
                stmt.targets[0].id: stmt.value.value
                for stmt in node.body
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
            }
    raise LookupError(class_name)


def code_of(node: ast.expr) -> int:
    """``ProvinceCode.P_01`` / ``WardCode.W_00004`` -> the integer in the member name."""
    assert isinstance(node, ast.Attribute)
    return int(node.attr.split("_", 1)[1])


def literal_calls(mapping: ast.expr) -> list[list[ast.expr]]:
    """The positional arguments of every ``Type(...)`` value in a dict literal."""
    assert isinstance(mapping, ast.Dict)
    return [value.args for value in mapping.values if isinstance(value, ast.Call)]


def unit_tables(directory: Path, names: tuple[str, ...]) -> tuple[dict[int, dict], ...]:
    """``Province(...)``/``District(...)``/``Ward(...)`` literals of ``directory/_lookup.py``."""
    kinds = enum_values(directory / "base.py", "VietNamDivisionType")
    tables = module_assignments(directory / "_lookup.py")

    def rows(name: str) -> dict[int, dict[str, object]]:
        out = {}
        for args in literal_calls(tables[name]):
            province = name == "PROVINCE_MAPPING"
            out[code_of(args[1])] = {
                "name": nfc(ast.literal_eval(args[0])),
                "division_type": kinds[args[2].attr],  # type: ignore[attr-defined]
                "parent": None if province else code_of(args[4]),
                "phone_code": ast.literal_eval(args[4]) if province else None,
            }
        return out

    return tuple(rows(name) for name in names)


def legacy_units(package: Path) -> tuple[dict, ...]:
    return unit_tables(package / "legacy", ("PROVINCE_MAPPING", "DISTRICT_MAPPING", "WARD_MAPPING"))


def ward_conversion(package: Path) -> dict[int, tuple[list[int], bool]]:
    """Legacy ward code -> (current commune codes, is_partly_merged)."""
    table = module_assignments(package / "_ward_conversion_2025.py")["OLD_TO_NEW"]
    out: dict[int, tuple[list[int], bool]] = {}
    for entry in literal_calls(table):
        old, new = entry
        assert isinstance(old, ast.Call)
        assert isinstance(new, ast.Tuple)
        old_code = ast.literal_eval(old.args[0])
        partly = ast.literal_eval(old.args[3])
        out[old_code] = ([ast.literal_eval(n.args[0]) for n in new.elts], partly)  # type: ignore[attr-defined]
    return out


def data_version(package: Path) -> str:
    value = module_assignments(package / "__init__.py")["__data_version__"]
    return ast.literal_eval(value)


def current_units(package: Path) -> list[dict]:
    """Current provinces with their wards (from the tables; the JSON copy only cross-checks)."""
    provinces, wards = unit_tables(package, ("PROVINCE_MAPPING", "WARD_MAPPING"))
    nested = [{"code": code, **p, "wards": []} for code, p in sorted(provinces.items())]
    by_code = {p["code"]: p for p in nested}
    for code, ward in sorted(wards.items()):
        by_code[ward["parent"]]["wards"].append({"code": code, **ward})
    _compare_with_json(package, nested)
    return nested


def _compare_with_json(package: Path, nested: list[dict]) -> None:
    copy = json.loads((package / "data" / "nested-divisions.json").read_text(encoding="utf-8"))
    ours = {p["code"]: p for p in nested}
    for province in copy:
        mine = ours[province["code"]]
        if nfc(province["name"]) != mine["name"]:
            print(f"note: JSON says {province['name']!r}, tables say {mine['name']!r}")
        # same wards; the JSON writes some apostrophes as U+2019 (Ea H’Leo), the tables as '
        wards = {w["code"]: nfc(w["name"]).replace("\u2019", "'") for w in province["wards"]}
        assert wards == {w["code"]: w["name"] for w in mine["wards"]}, province["code"]


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"wrote {path.relative_to(DATA_DIR.parent.parent)} ({len(rows)} rows)")


def province_rows(current: list[dict], legacy: dict[int, dict]) -> list[list[object]]:
    now = {p["code"]: p for p in current}
    assert set(now) <= set(legacy)
    assert len(now) == 34
    assert len(legacy) == 63
    assert set(LEGACY_TO_CURRENT) == set(legacy)
    assert set(LEGACY_TO_CURRENT.values()) == set(now)
    rows = []
    for code in sorted(legacy):
        old, cur = legacy[code], now.get(code)
        rows.append([
            f"{code:03d}",
            nfc(cur["name"]) if cur else old["name"],
            cur["division_type"] if cur else old["division_type"],
            cur["phone_code"] if cur else old["phone_code"],
            int(cur is not None),
            old["name"],
            old["division_type"],
            f"{LEGACY_TO_CURRENT[code]:03d}",
        ])
    return rows


def capitalised(name: str) -> str:
    """The catalogue spells commune 06325 "xã Bắc Sơn": names start with a capital letter."""
    return name[:1].upper() + name[1:]


def commune_rows(current: list[dict]) -> list[list[object]]:
    rows = [
        [f"{w['code']:05d}", capitalised(nfc(w["name"])), w["division_type"], f"{p['code']:03d}"]
        for p in current
        for w in p["wards"]
    ]
    assert len(rows) == 3321
    return sorted(rows)


def legacy_commune_rows(districts: dict, wards: dict, conversion: dict) -> list[list[object]]:
    rows = []
    for code in sorted(wards):
        ward = wards[code]
        district = districts[ward["parent"]]
        new_codes, partly = conversion.get(code, ([], False))
        rows.append([
            f"{code:05d}", ward["name"], ward["division_type"], f"{ward['parent']:03d}",
            district["name"], district["division_type"], f"{district['parent']:03d}",
            " ".join(f"{c:05d}" for c in new_codes), int(partly),
        ])
    return rows


def check_merger(legacy_rows: list[list[object]], commune_province: dict[str, str]) -> None:
    """Every converted legacy ward must land in the province §1.3 says its province became."""
    misplaced = Counter()
    for row in legacy_rows:
        expected = f"{LEGACY_TO_CURRENT[int(row[6])]:03d}"
        for new in str(row[7]).split():
            if commune_province[new] != expected:
                misplaced[(row[6], commune_province[new])] += 1
    for (old, new), count in sorted(misplaced.items()):
        print(f"note: {count} ward(s) of legacy province {old} convert into province {new}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("package", type=Path, help="the unpacked vietnam_provinces/ directory")
    args = parser.parse_args(argv)
    version = data_version(args.package)
    if version != EXPECTED_DATA_VERSION:
        print(f"warning: data version {version}, expected {EXPECTED_DATA_VERSION}", file=sys.stderr)
    current = current_units(args.package)
    provinces, districts, wards = legacy_units(args.package)
    conversion = ward_conversion(args.package)
    communes = commune_rows(current)
    legacy_rows = legacy_commune_rows(districts, wards, conversion)
    check_merger(legacy_rows, {row[0]: row[3] for row in communes})
    write_csv(DATA_DIR / "admin_provinces.csv",
              ["code", "name", "division_type", "phone_code", "is_current", "legacy_name",
               "legacy_division_type", "current_code"], province_rows(current, provinces))
    write_csv(DATA_DIR / "admin_communes.csv",
              ["code", "name", "division_type", "province_code"], communes)
    write_csv(DATA_DIR / "admin_legacy_communes.csv",
              ["code", "name", "division_type", "district_code", "district_name",
               "district_division_type", "province_code", "current_commune_codes",
               "is_partly_merged"], legacy_rows)
    meta = {"source": "danhmuchanhchinh.nso.gov.vn via PyPI vietnam-provinces 2026.9.0",
            "data_version": version, "extracted_by": "seed/tools/extract_admin_units.py"}
    (DATA_DIR / "admin_units_source.json").write_text(json.dumps(meta, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
