"""Where the compiled tick spends its time: shares by kernel function and the hottest
instructions of ``turns`` (or ``--function``), sampled with ``perf record -e cpu-clock`` (the only event this
VM samples).

    python benchmarks/kernel_profile.py --agents 10000 --warmup 300 --ticks 2000

Numba's perf map (``NUMBA_ENABLE_PROFILING``) names only functions compiled in the
process; a tick loaded from the kernel cache gets none, and perf shows bare addresses.
So this script writes ``/tmp/perf-<pid>.map`` itself: the cached tick's object code (its
``.nbc`` file) holds every function the tick links, in one text section, and the address
Numba gives for ``tick`` places that section in memory. An instruction's ``0x...(%reg)``
operand that is the offset of a state field's data pointer in the borrowed record is
named after the field (a hint: the register may hold another record).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import signal
import struct
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from townlet.config import default_config, with_agents
from townlet.world import World
from townlet.world._cache import install
from townlet.world.kernel import tick
from townlet.world.state import FIELDS

_ASM = re.compile(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(.*)$")


def readable(mangled: str) -> str:
    """``townlet.world.kernel.turns`` for Numba's mangled name of that function."""
    parts, k = [], mangled.find("_ZN")
    if k < 0:
        return mangled
    k += 3
    while (m := re.match(r"\d+", mangled[k:])) is not None:
        k += len(m.group())
        parts.append(mangled[k:k + int(m.group())])
        k += int(m.group())
    return ".".join(parts) or mangled


def _object_code() -> bytes:
    """The ELF object of the cached tick (the ``.nbc`` file naming the compiled one)."""
    name = next(iter(tick.overloads.values())).fndesc.llvm_func_name.encode()
    for path in sorted((install() / "world").glob("kernel.tick-*.nbc")):
        raw = path.read_bytes()
        at = raw.find(b"\x7fELF")
        if at >= 0 and name in raw:
            shoff = int.from_bytes(raw[at + 0x28:at + 0x30], "little")
            entry, count = (int.from_bytes(raw[at + o:at + o + 2], "little") for o in (0x3A, 0x3C))
            return raw[at:at + shoff + entry * count]
    raise SystemExit("the tick is not in the kernel cache: run a town once first")


def _functions(elf: bytes) -> list[tuple[str, int, int, int]]:
    """(name, section index, offset, size) of the defined functions of an ELF64 object."""
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    entry, count = struct.unpack_from("<HH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + k * entry) for k in range(count)]
    symtab = next(h for h in headers if h[1] == 2)  # SHT_SYMTAB; sh_link: its string table
    strtab = headers[symtab[6]]
    out = []
    for at in range(symtab[4], symtab[4] + symtab[5], symtab[9]):
        name, info, _, shndx, value, size = struct.unpack_from("<IBBHQQ", elf, at)
        if info & 0xF == 2 and 0 < shndx < 0xFF00 and size:  # STT_FUNC, defined
            end = elf.index(b"\0", strtab[4] + name)
            out.append((elf[strtab[4] + name:end].decode(), shndx, value, size))
    return out


def symbols() -> list[tuple[int, int, str]]:
    """(address, size, mangled name) of every function linked into the loaded tick."""
    cres = next(iter(tick.overloads.values()))
    found = _functions(_object_code())
    entry = cres.fndesc.llvm_func_name
    _, section, value, _ = next(f for f in found if f[0] == entry)
    base = cres.library.get_pointer_to_function(entry) - value
    return sorted((base + v, size, n) for n, sec, v, size in found if sec == section)


def pick(table: list[tuple[int, int, str]], name: str) -> list[tuple[int, int]]:
    """(address, size) of each compiled version of the function named ``name`` (as
    ``readable`` gives it; one per argument types) in ``table``; exits naming the kernel
    functions it has when there is none."""
    found = [(a, n) for a, n, mangled in table if readable(mangled) == name]
    if not found:
        known = sorted({readable(m) for _, _, m in table if readable(m).startswith("townlet.")})
        raise SystemExit(f"no function {name!r} in the loaded tick; it has: {', '.join(known)}")
    return found


def field_offsets() -> dict[int, str]:
    """Offset of each state field's data pointer in the borrowed record (56-byte 1-D,
    72-byte 2-D array structs; the pointer is their fifth member)."""
    offsets, at = {}, 0
    for f in FIELDS:
        offsets[at + 32] = f.name
        at += 40 + 16 * len(f.dims)
    return offsets


def annotate(code: bytes, address: int, samples: Counter, top: int) -> list[str]:
    """The ``top`` hottest instructions of a function, each after the 6 before it."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as raw:
        raw.write(code)
        raw.flush()
        asm = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64",
                              f"--adjust-vma={address:#x}", raw.name],
                             capture_output=True, text=True, check=True).stdout
    lines = [(int(m.group(1), 16), m.group(2)) for m in map(_ASM.match, asm.splitlines()) if m]
    names = field_offsets()

    def named(ins: str) -> str:
        hits = [names[int(o, 16)] for o in re.findall(r"(0x[0-9a-f]+)\(%r", ins)
                if int(o, 16) in names]
        return f"{ins}    # {', '.join(hits)}" if hits else ins

    hot = sorted(range(len(lines)), key=lambda k: -samples[lines[k][0]])[:top]
    out = []
    for k in sorted(hot):
        out.append(f"--- {samples[lines[k][0]]} samples")
        out += [f"{samples[a]:6d} {a:x} {named(ins)}" for a, ins in lines[max(0, k - 6):k + 1]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--top", type=int, default=12, help="hottest instructions shown")
    ap.add_argument("--function", default="townlet.world.kernel.turns",
                    help="the kernel function whose hottest instructions are shown")
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "kernel-profile.data"),
                    help="perf.data path")
    args = ap.parse_args()
    world = World(with_agents(default_config(), args.agents), 0)
    for _ in range(args.warmup):
        world.step()
    table = symbols()
    pick(table, args.function)  # a misspelt name fails before the run, not after it
    perf_map = Path(f"/tmp/perf-{os.getpid()}.map")
    perf_map.write_text("".join(f"{a:x} {n:x} {name}\n" for a, n, name in table))
    perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-p",
                             str(os.getpid()), "-o", args.data], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # perf attaches before the ticks start
    start = time.process_time()
    for _ in range(args.ticks):
        world.step()
    cpu = time.process_time() - start
    perf.send_signal(signal.SIGINT)
    perf.wait()
    ips = subprocess.run(["perf", "script", "-i", args.data, "-F", "ip"], capture_output=True,
                         text=True, check=True).stdout.split()
    samples = Counter(int(ip, 16) for ip in ips)
    total = sum(samples.values()) or 1
    by_function = Counter()
    for a, n, name in table:
        by_function[readable(name)] += sum(c for ip, c in samples.items() if a <= ip < a + n)
    print(f"{args.agents} agents, ticks {args.warmup}..{args.warmup + args.ticks}: "
          f"{cpu / (args.agents * args.ticks) * 1e9:.1f} ns per agent-tick (process CPU), "
          f"{total} samples (perf report -i {args.data} names them while {perf_map} lives)")
    for name, count in by_function.most_common(15):
        print(f"{100 * count / total:6.2f}%  {name}")
    for a, n in pick(table, args.function):
        print(f"\nhottest instructions of {args.function} at {a:#x}:")
        print("\n".join(annotate(ctypes.string_at(a, n), a, samples, args.top)))


if __name__ == "__main__":
    main()
