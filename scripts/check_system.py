"""Stop `make test` with a clear message when a system part the suite needs is missing.

The suite never skips browser, PostgreSQL, Redis or nginx tests silently: it refuses to start instead.
"""

import glob
import shutil
import sys

sys.path.insert(0, ".")
from tests.system import find_chromium, find_nginx, find_openssl, find_pg_bin, find_redis  # noqa: E402

missing = []
if not find_chromium():
    missing.append("chromium (Debian package: chromium)")
if not find_pg_bin():
    missing.append("PostgreSQL server binaries (Debian package: postgresql)")
if not find_redis():
    missing.append("redis-server (Debian package: redis-server)")
if not find_nginx():
    missing.append("nginx, for the reverse-proxy test (Debian package: nginx-light)")
if not find_openssl():
    missing.append("openssl, which makes that test's certificate (Debian package: openssl)")
if not shutil.which("node") and not glob.glob("/usr/bin/node*"):
    missing.append("node (Debian package: nodejs)")

if missing:
    print("make test needs these system parts, which are missing:", file=sys.stderr)
    for item in missing:
        print(f"  - {item}", file=sys.stderr)
    print("Install them (e.g. `sudo apt-get install chromium postgresql redis-server nginx-light openssl`), "
          "or run .ci/run.",
          file=sys.stderr)
    sys.exit(1)
