"""Which TCP/UDP addresses processes listen on: "nothing binds beyond 127.0.0.1"
is checked, not assumed (tests/scale)."""
from __future__ import annotations

import ipaddress


def listening(pids) -> list[tuple[int, str, str, int]]:
    """(pid, process name, ip, port) of every listening TCP socket and bound UDP
    socket of `pids` and their descendants."""
    import psutil  # comes with Ray (the scale extra)

    found = []
    seen = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                conns = proc.net_connections(kind="inet")
                name = proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for c in conns:
                listens = c.status == psutil.CONN_LISTEN or (c.status == psutil.CONN_NONE and c.laddr)
                if listens and c.laddr:
                    found.append((proc.pid, name, c.laddr.ip, c.laddr.port))
    return sorted(found)


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or 127.x written as IPv4-mapped IPv6 (::ffff:127.0.0.1);
    never a wildcard (0.0.0.0, ::)."""
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def beyond_loopback(sockets) -> list[tuple[int, str, str, int]]:
    """The sockets among `listening(...)` bound to an address that is not loopback."""
    return [s for s in sockets if not is_loopback(s[2])]
