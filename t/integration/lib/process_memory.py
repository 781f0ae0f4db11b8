"""Searches a live process's memory (as root, through /proc/PID/mem) for a
byte string: what an attacker running as the same user, or reading a core
dump, could find there."""

# Mappings larger than this are reservations, not data: AddressSanitizer's
# shadow memory (terabytes, mostly never touched). httpd's heap and stacks
# are far smaller.
LARGEST_MAPPING = 1 << 30


def memory_contains(pid, needle):
    """True when `needle` sits anywhere in the readable mappings of `pid`."""
    overlap = len(needle) - 1
    with open(f"/proc/{pid}/maps") as maps:
        regions = maps.read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in regions:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if not fields[1].startswith("r") or fields[-1] in ("[vvar]", "[vsyscall]"):
                continue
            if end - start > LARGEST_MAPPING:
                continue
            tail = b""
            at = start
            while at < end:
                size = min(end - at, 1 << 22)
                try:
                    mem.seek(at)
                    chunk = mem.read(size)
                except OSError:
                    break
                if needle in tail + chunk:
                    return True
                tail = chunk[-overlap:] if overlap else b""
                at += size
    return False
