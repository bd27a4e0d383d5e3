"""Make docs/report.png: a week of agent traces, two evaluation runs, `eval watch`, the report.

The store is made-up traffic (benchmarks/bench_monitor.py's generator, 2,000 traces over 7 days);
the runs are real `evals.evaluate` runs, the watched scores a real `evals.watch` (10% sample),
the picture headless Chromium (Debian's) on the report file.

Usage:
    python docs/report_picture.py            # writes docs/report.png (and /tmp/report.html)
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_monitor import build  # noqa: E402

import evals  # noqa: E402
import llmtrace  # noqa: E402
from evals import metrics  # noqa: E402
from llmtrace.views._report import report_html  # noqa: E402
from llmtrace.views._store import Store  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    build(uri, 2000, int(time.time() * 1000))
    llmtrace.configure(tracking_uri=uri, experiment="bench")
    rows = [
        {"question": f"q{i}", "answer": "Paris" if i % 3 else "Lyon", "expected": "Paris"}
        for i in range(40)
    ]
    evals.evaluate(rows[:20], [metrics.exact_match, metrics.token_f1], run_name="prompt-v1")
    evals.evaluate(rows, [metrics.exact_match, metrics.token_f1], run_name="prompt-v2")
    short = evals.metric(name="short")(lambda answer: float(len(answer) < 12))
    evals.watch(
        [metrics.answer_length("words"), short],
        experiment="bench", tracking_uri=uri, sample=0.1, since="8d", until=300, name="demo",
        max_traces=200, poll_s=0.2,
    )  # fmt: skip
    page = folder / "report.html"
    page.write_text(report_html(Store(uri, "bench"), since="7d"), encoding="utf-8")
    Path("/tmp/report.html").write_text(page.read_text())

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1700",
                "--host-resolver-rules=MAP * ~NOTFOUND"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(page.as_uri())
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    image.quantize(colors=64).save(ROOT / "docs" / "report.png", optimize=True)
    print(f"wrote {ROOT / 'docs' / 'report.png'}")


if __name__ == "__main__":
    main()
