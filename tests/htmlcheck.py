"""The Nu HTML checker (vnu.jar, from the npm dev package vnu-jar that `make test` installs) run over pages.

One JVM run checks every document given: starting the checker costs a few seconds, checking a page a few
milliseconds. Only errors count; the checker's warnings and info messages are advice, not conformance.
"""

import glob
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"


def find_java() -> str | None:
    """A java executable (Debian package: default-jre-headless); vnu.jar needs Java 17 or newer.

    Last comes the runtime that vnu-jar's install script downloads where npm found no java.
    """
    java_home = os.environ.get("JAVA_HOME")
    downloaded = sorted(glob.glob(str(NODE_MODULES / ".cache" / "vnu-jar" / "java" / "*" / "bin" / "java")))
    for candidate in (java_home and os.path.join(java_home, "bin", "java"), shutil.which("java"), "/usr/bin/java",
                      *downloaded):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@dataclass(frozen=True)
class HtmlError:
    url: str  # the page's URL (the name given to check())
    line: int | None
    message: str
    extract: str = ""

    def __str__(self) -> str:
        where = f"{self.url}, line {self.line}" if self.line else self.url
        extract = " ".join(self.extract.split())
        return f"{where}: {self.message}" + (f" [{extract}]" if extract else "")


@dataclass(frozen=True)
class NuChecker:
    java: str
    jar: Path = VNU_JAR

    def check(self, documents: dict[str, str]) -> list[HtmlError]:
        """The errors in ``documents`` (name, e.g. the page's URL -> HTML source), in one run of the checker.

        A message the checker could not attach to a document (a file it could not read, an internal
        failure) is a failure of the harness and raises, rather than passing for a clean page.
        """
        if not documents:
            return []
        with tempfile.TemporaryDirectory(prefix="vnu-") as tmp:
            names = {}
            for index, (name, html) in enumerate(documents.items()):
                path = Path(tmp) / f"page-{index:04d}.html"
                path.write_text(html, encoding="utf-8")
                names[path.name] = name
            # A short run: the JVM's first-tier compiler alone (C1) halves it. Its frames are bigger, and the
            # schema's recursion then overflows the default 1 MB thread stack: give it 8 MB. An overflow exits
            # with 1 (--exit-zero-always or not), which raises below.
            result = subprocess.run(
                [self.java, "-XX:TieredStopAtLevel=1", "-Xss8m", "-jar", str(self.jar), "--errors-only",
                 "--no-langdetect", "--exit-zero-always", "--format", "json", "--stdout",
                 *(str(Path(tmp) / file) for file in names)],
                capture_output=True, text=True, timeout=600, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"vnu.jar exited with {result.returncode}: {result.stderr[-2000:]}")
            messages = json.loads(result.stdout)["messages"]
        errors = []
        for m in messages:
            name = names.get(m.get("url", "").rsplit("/", 1)[-1])  # vnu names the file as file:/tmp/...
            if m["type"] == "non-document-error" or name is None:
                raise RuntimeError(f"the HTML checker failed: {m}")
            if m["type"] != "error":
                continue
            errors.append(HtmlError(url=name, line=m.get("lastLine"), message=m["message"],
                                    extract=m.get("extract", "")))
        return errors


def nu_checker() -> tuple[NuChecker | None, str]:
    """(the checker, "") or (None, why it cannot run)."""
    if not VNU_JAR.exists():
        return None, f"{VNU_JAR} is missing: run `make setup-test` (npm ci installs the npm dev package vnu-jar)"
    java = find_java()
    if not java:
        return None, "java not found (Debian package: default-jre-headless), needed by the Nu HTML checker"
    return NuChecker(java), ""
