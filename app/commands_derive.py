"""`cathode derive`: recompute the derived tables (cycling, dQ/dV, GITT, EIS fits, microstructure, spectroscopy)."""
from __future__ import annotations


def add_commands(command) -> None:
    from analytics.early_life import EARLY_CYCLES
    from analytics.runner import QUANTITIES
    p = command("derive", cmd_derive)
    p.add_argument("--what", action="append", metavar="NAME",
                   help=f"quantities to derive, comma-separated or repeated (default: all of {', '.join(QUANTITIES)})")
    p.add_argument("--force", action="store_true", help="recompute even unchanged units (appends a new run)")
    p.add_argument("--strict", action="store_true", help="fail on the first unit that cannot be derived; "
                   "nothing is written")
    p.add_argument("--particle-radius-m", type=float, help="mean NCM particle radius for GITT Eq. 1, metres")
    p.add_argument("--thickness-um", type=float, help="membrane thickness for the ionic conductivity (Eq. 3), um")
    p.add_argument("--area-cm2", type=float, help="contact area for Eq. 3 and area-specific resistances, cm2")
    p.add_argument("--early-cycles", type=int, help=f"cycles used for the early-life features (default {EARLY_CYCLES})")


def cmd_derive(args) -> int:
    from analytics.runner import derive_all
    options = {"particle_radius_m": args.particle_radius_m, "thickness_um": args.thickness_um,
               "area_cm2": args.area_cm2, "early_cycles": args.early_cycles}
    report = derive_all(args.lake, args.what, options={k: v for k, v in options.items() if v is not None},
                        force=args.force, strict=args.strict)
    print("\n".join(report.lines()))
    return 0
