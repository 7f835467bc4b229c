"""The web console in a cold headless Chromium: first paint, and how soon a line a
function prints shows in the function page's live log; optionally the screenshots of
the main views kept in docs/console/.

    python bench/console.py [--rounds 10] [--lines 20] [--screenshots docs/console]

First paint: ``--rounds`` times a new Chromium with a new profile (nothing cached)
opens ``/_sandlot/console/`` and the page's Performance API answers
``first-contentful-paint``. Live log: the function page is open; boto3 invokes the
function ``--lines`` times, the function prints its own ``time.time()``, and the page
records (``Date.now()``, same clock) when the line is appended. Needs Debian's
``chromium`` and ``chromium-driver`` and the test extras' ``selenium``.

Targets (issue 18): first paint <= 500 ms from a cold browser on loopback; a live log
line in the browser <= 500 ms after the function printed it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from io import BytesIO
from pathlib import Path

from common import client, create_bench_role, start_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' browser helpers
from tests.e2e.console_browser import sign_in, start_chromium, text_of, wait_until  # noqa: E402

HANDLER = """
import time

def handler(event, context):
    print("printed-at", repr(time.time()), event.get("n"), flush=True)
    return {"n": event.get("n"), "greeting": "hello from the console bench"}
"""


def first_paint_ms(url: str) -> float:
    driver = start_chromium()
    try:
        driver.get(url)
        script = (
            "const e = performance.getEntriesByName('first-contentful-paint')[0];"
            "return e ? e.startTime : null;"
        )
        return wait_until(lambda: driver.execute_script(script), what="first-contentful-paint")
    finally:
        driver.quit()


def seed(port: int) -> str:
    """A function, a bucket with objects, a queue: something for each view to show."""
    role = create_bench_role(port)
    client(port, "iam").attach_role_policy(  # the function may write its logs
        RoleName="bench",
        PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )
    code = BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", HANDLER)
    lam = client(port, "lambda")
    lam.create_function(FunctionName="orders-api", Runtime="python3.12", Role=role,
                        Handler="app.handler", Code={"ZipFile": code.getvalue()},
                        MemorySize=256, Timeout=10,
                        Environment={"Variables": {"TABLE": "orders", "STAGE": "dev"}})  # fmt: skip
    deadline = time.monotonic() + 30
    while lam.get_function(FunctionName="orders-api")["Configuration"]["State"] != "Active":
        if time.monotonic() > deadline:
            raise SystemExit("the function did not become Active")
        time.sleep(0.05)
    s3 = client(port, "s3")
    s3.create_bucket(Bucket="site-assets")
    for key, body in (("index.html", b"<h1>hi</h1>"), ("img/logo.svg", b"<svg/>"),
                      ("reports/2026-12.csv", b"day,orders\n1,42\n")):  # fmt: skip
        s3.put_object(Bucket="site-assets", Key=key, Body=body)
    ddb = client(port, "dynamodb")
    ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])  # fmt: skip
    for n in range(12):
        ddb.put_item(TableName="orders", Item={"id": {"S": f"order-{n:03}"},
                     "total": {"N": str(10 + n * 3)}, "paid": {"BOOL": n % 3 != 0}})  # fmt: skip
    sqs = client(port, "sqs")
    sqs.create_queue(QueueName="orders-queue", Attributes={"VisibilityTimeout": "45"})
    return "orders-api"


def live_log(endpoint: str, port: int, name: str, lines: int, shots: Path | None) -> list[float]:
    """Milliseconds from the function's print to the line in the page, per line."""
    from selenium.webdriver.common.by import By

    driver = start_chromium()
    try:
        sign_in(driver, endpoint)
        if shots:
            driver.get(f"{endpoint}/_sandlot/console/#/lambda")
            wait_until(lambda: driver.find_elements(By.LINK_TEXT, name), what="functions")
            driver.save_screenshot(str(shots / "functions.png"))
        driver.get(f"{endpoint}/_sandlot/console/#/lambda/{name}")
        wait_until(lambda: text_of(driver, "#function-name") == name, what="the function page")
        # Record when each line is appended, by the page's clock.
        driver.execute_script(
            "window.seenAt = {};"
            "new MutationObserver(() => {"
            "  for (const line of document.querySelectorAll('#log-events .log-line')) {"
            "    const m = line.textContent.match(/printed-at (\\S+) (\\d+)/);"
            "    if (m && !(m[2] in seenAt)) seenAt[m[2]] = Date.now() / 1000 - Number(m[1]);"
            "  }"
            "}).observe(document.getElementById('log-events'), {childList: true});"
        )
        lam = client(port, "lambda")
        for n in range(lines):
            lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
            wait_until(lambda n=n: driver.execute_script(f"return {n} in seenAt"), what="line")
            time.sleep(0.37)  # spread the prints over the phases of the page's polling
        delays = driver.execute_script("return seenAt")
        if shots:
            event = driver.find_element(By.ID, "event")
            event.clear()
            event.send_keys(json.dumps({"n": 7}))
            driver.find_element(By.ID, "invoke").click()
            wait_until(lambda: text_of(driver, "#invoke-payload"), what="the invoke result")
            driver.set_window_size(1280, 1700)
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(shots / "function.png"))
            driver.set_window_size(1280, 900)
            driver.get(f"{endpoint}/_sandlot/console/#/s3/site-assets")
            wait_until(lambda: "reports/2026-12.csv" in text_of(driver, "main"), what="objects")
            driver.save_screenshot(str(shots / "s3-objects.png"))
            driver.get(f"{endpoint}/_sandlot/console/#/dynamodb/orders")
            wait_until(lambda: "order-011" in text_of(driver, "main"), what="items")
            driver.save_screenshot(str(shots / "dynamodb-items.png"))
            driver.get(f"{endpoint}/_sandlot/console/#/sqs")
            wait_until(lambda: driver.find_elements(By.LINK_TEXT, "orders-queue"), what="queues")
            driver.find_element(By.LINK_TEXT, "orders-queue").click()
            wait_until(lambda: "VisibilityTimeout" in text_of(driver, "main"), what="attributes")
            driver.save_screenshot(str(shots / "sqs-queue.png"))
            driver.execute_script("sessionStorage.clear()")
            driver.refresh()
            wait_until(lambda: driver.find_elements(By.ID, "sign-in"), what="the sign-in form")
            driver.save_screenshot(str(shots / "sign-in.png"))
        return [delays[str(n)] * 1000 for n in range(lines)]
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sandlot-bench-console-") as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            name = seed(port)
            paints = [first_paint_ms(f"{endpoint}/_sandlot/console/") for _ in range(args.rounds)]
            print(f"first-contentful-paint, cold browser ({args.rounds} rounds): "
                  f"p50 {statistics.median(paints):.0f} ms, max {max(paints):.0f} ms, "
                  f"min {min(paints):.0f} ms")  # fmt: skip
            delays = sorted(live_log(endpoint, port, name, args.lines, args.screenshots))
            p90 = delays[int(len(delays) * 0.9) - 1]
            print(f"live log line, print to page ({args.lines} lines): "
                  f"p50 {statistics.median(delays):.0f} ms, p90 {p90:.0f} ms, "
                  f"max {max(delays):.0f} ms")  # fmt: skip
            if args.screenshots:
                print(f"screenshots in {args.screenshots}: {sorted(os.listdir(args.screenshots))}")
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
