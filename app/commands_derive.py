"""`cathode derive`: recompute the derived tables (cycling, dQ/dV, GITT, EIS fits, microstructure, spectroscopy)."""
from __future__ import annotations

from analytics.runner import QUANTITIES, derive_all


def add_commands(command) -> None:
    p = command("derive", cmd_derive, "recompute derived tables from the lake in one commit (skips units whose "
                "method and inputs are unchanged)")
    p.add_argument("--what", action="append", metavar="NAME",
                   help=f"quantities to derive, comma-separated or repeated (default: all of {', '.join(QUANTITIES)})")
    p.add_argument("--force", action="store_true", help="recompute even unchanged units (appends a new run)")
    p.add_argument("--strict", action="store_true", help="fail on the first unit that cannot be derived; "
                   "nothing is written")
    p.add_argument("--particle-radius-m", type=float, help="mean NCM particle radius for GITT Eq. 1, metres")
    p.add_argument("--thickness-um", type=float, help="membrane thickness for the ionic conductivity (Eq. 3), um")
    p.add_argument("--area-cm2", type=float, help="contact area for Eq. 3 and area-specific resistances, cm2")
    p.add_argument("--early-cycles", type=int, help="cycles used for the early-life features (default 100)")


def cmd_derive(args) -> int:
    options = {"particle_radius_m": args.particle_radius_m, "thickness_um": args.thickness_um,
               "area_cm2": args.area_cm2, "early_cycles": args.early_cycles}
    report = derive_all(args.lake, args.what, options={k: v for k, v in options.items() if v is not None},
                        force=args.force, strict=args.strict)
    print("\n".join(report.lines()))
    return 0
