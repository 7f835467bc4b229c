"""The web console (/_sandlot/console/) in a real browser: sign in with a key, open a
function, invoke it and see the result and the log line appear without a reload; S3
buckets and objects with download; SQS attributes and sending. The page signs each API
call itself (SigV4 in WebCrypto), so what it shows is what the APIs answered."""

from __future__ import annotations

import io
import json
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from email.message import Message
from pathlib import Path

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.console_browser import needs_chromium, sign_in, start_chromium, text_of, wait_until
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer

HANDLER = """
import json, sys, time

def handler(event, context):
    print("console-line", event.get("marker"), flush=True)
    if event.get("later"):
        time.sleep(0.3)
        print("later-line", event["later"], flush=True)
    return {"doubled": event.get("n", 0) * 2}
"""
HOSTILE = '<img src=x id=injected onerror="document.title=1">'


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


def fetch(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_console_files_are_served_with_a_strict_policy(server):
    status, headers, body = fetch(f"{server.endpoint}/_sandlot/console/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b'<script type="module" src="js/app.js">' in body
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Frame-Options"] == "DENY"
    status, headers, _ = fetch(f"{server.endpoint}/_sandlot/console/js/sigv4.js")
    assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
    for missing in ("js/none.js", "..%2F..%2Fconfig.py", "../__init__.py", ".hidden.js"):
        assert fetch(f"{server.endpoint}/_sandlot/console/{missing}")[0] == 404, missing
    assert "console: " + server.endpoint + "/_sandlot/console/" in "".join(server.output)


@needs_chromium
def test_invoke_a_function_and_watch_its_log_line_arrive(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    lam = make_client(server.endpoint, "lambda")
    name = unique("console-fn")
    create_function(lam, name, {"app.py": HANDLER}, Environment={"Variables": {"NOTE": HOSTILE}})
    sign_in(browser, server.endpoint)
    assert text_of(browser, "#identity") == "account 000000000000"
    browser.find_element(By.LINK_TEXT, "Lambda").click()
    wait_until(
        lambda: browser.find_elements(By.LINK_TEXT, name), what="the function list"
    ).pop().click()
    wait_until(lambda: text_of(browser, "#function-name") == name, what="the function page")
    # API data is text, never markup: the hostile variable shows as typed.
    assert HOSTILE in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_elements(By.ID, "injected")
    code_url = browser.find_element(By.ID, "code-download").get_attribute("href")
    with zipfile.ZipFile(io.BytesIO(fetch(code_url)[2])) as archive:
        assert archive.read("app.py").decode() == HANDLER
    browser.execute_script("window.sameDocument = true")  # gone if the page reloads

    event = browser.find_element(By.ID, "event")
    event.clear()
    event.send_keys(json.dumps({"n": 21, "marker": "first-call"}))
    browser.find_element(By.ID, "invoke").click()
    wait_until(lambda: text_of(browser, "#invoke-payload"), what="the invoke result")
    assert json.loads(text_of(browser, "#invoke-payload")) == {"doubled": 42}
    assert text_of(browser, "#invoke-status") == "200 OK"
    assert "console-line first-call" in text_of(browser, "#invoke-log-tail")
    assert "REPORT RequestId" in text_of(browser, "#invoke-log-tail")
    wait_until(
        lambda: "console-line first-call" in text_of(browser, "#log-events"), what="the log line"
    )

    # A line the function prints later, from an invoke the page did not make, arrives
    # through the page's polling of FilterLogEvents.
    lam.invoke(FunctionName=name, Payload=json.dumps({"later": "from-boto3"}).encode())
    wait_until(
        lambda: "later-line from-boto3" in text_of(browser, "#log-events"), what="a new line"
    )
    assert browser.execute_script("return window.sameDocument") is True

    # A filter pattern shows only the matching events, and stays live.
    pattern = browser.find_element(By.ID, "log-filter")
    pattern.send_keys('"later-line"', Keys.TAB)  # quoted: it has a hyphen
    wait_until(lambda: "console-line" not in text_of(browser, "#log-events"), what="the filter")
    assert "later-line from-boto3" in wait_until(lambda: text_of(browser, "#log-events"))
    lam.invoke(FunctionName=name, Payload=json.dumps({"later": "filtered"}).encode())
    wait_until(lambda: "later-line filtered" in text_of(browser, "#log-events"), what="live")
    assert "console-line" not in text_of(browser, "#log-events")


@needs_chromium
def test_a_failing_invoke_shows_the_function_error(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    lam = make_client(server.endpoint, "lambda")
    name = unique("console-bad")
    create_function(
        lam, name, {"app.py": "def handler(event, context):\n    raise ValueError('nope')\n"}
    )
    sign_in(browser, server.endpoint)
    browser.get(f"{server.endpoint}/_sandlot/console/#/lambda/{name}")
    wait_until(lambda: text_of(browser, "#function-name") == name, what="the function page")
    browser.find_element(By.ID, "invoke").click()
    wait_until(lambda: text_of(browser, "#invoke-status"), what="the invoke result")
    assert text_of(browser, "#invoke-status") == "200, function error: Unhandled"
    assert json.loads(text_of(browser, "#invoke-payload"))["errorType"] == "ValueError"

    # A saved test event comes back after a reload (and in a new page of this browser).
    event = browser.find_element(By.ID, "event")
    event.clear()
    event.send_keys('{"saved": true}')
    browser.find_element(By.ID, "event-name").send_keys("my event")
    browser.find_element(By.ID, "save-event").click()
    browser.refresh()
    wait_until(lambda: text_of(browser, "#function-name") == name, what="the function page")
    assert browser.find_element(By.ID, "event").get_attribute("value") == "{}"
    Select(browser.find_element(By.ID, "saved-events")).select_by_visible_text("my event")
    assert browser.find_element(By.ID, "event").get_attribute("value") == '{"saved": true}'


@needs_chromium
def test_an_api_error_shows_aws_code(server, browser):
    sign_in(browser, server.endpoint)
    browser.get(f"{server.endpoint}/_sandlot/console/#/lambda/{unique('absent')}")
    wait_until(lambda: text_of(browser, ".error"), what="the error")
    assert text_of(browser, ".error").startswith("ResourceNotFoundException: ")


@needs_chromium
def test_s3_objects_list_and_download(server):
    from selenium.webdriver.common.by import By

    s3 = make_client(server.endpoint, "s3")
    bucket = unique("console-bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/hello world.txt", Body=b"hello from s3\n")
    with tempfile.TemporaryDirectory(prefix="sandlot-console-dl-") as downloads:
        driver = start_chromium(download_dir=downloads)
        try:
            sign_in(driver, server.endpoint)
            driver.find_element(By.LINK_TEXT, "S3").click()
            wait_until(
                lambda: driver.find_elements(By.LINK_TEXT, bucket), what="buckets"
            ).pop().click()
            wait_until(lambda: "dir/hello world.txt" in text_of(driver, "main"), what="objects")
            driver.find_element(By.CSS_SELECTOR, "button.download").click()
            # Chromium writes a .crdownload file and renames it once complete.
            saved = Path(downloads) / "hello world.txt"
            wait_until(saved.exists, what="the download")
            assert saved.read_bytes() == b"hello from s3\n"

            upload = Path(downloads) / "from the browser.bin"
            upload.write_bytes(bytes(range(256)) * 10)
            driver.find_element(By.ID, "upload-prefix").send_keys("up/")
            driver.find_element(By.ID, "upload-file").send_keys(str(upload))
            driver.find_element(By.ID, "upload").click()
            wait_until(lambda: "up/from the browser.bin" in text_of(driver, "main"), what="listed")
            stored = s3.get_object(Bucket=bucket, Key="up/from the browser.bin")["Body"].read()
            assert stored == upload.read_bytes()
        finally:
            driver.quit()


@needs_chromium
def test_sqs_attributes_and_send(server, browser):
    from selenium.webdriver.common.by import By

    sqs = make_client(server.endpoint, "sqs")
    name = unique("console-q")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "SQS").click()
    wait_until(lambda: browser.find_elements(By.LINK_TEXT, name), what="queues").pop().click()
    wait_until(lambda: "VisibilityTimeout" in text_of(browser, "main"), what="attributes")
    assert re.search(r"VisibilityTimeout\s+45\n", text_of(browser, "main"))
    browser.find_element(By.ID, "message-body").send_keys("sent from the console")
    browser.find_element(By.ID, "send-message").click()
    wait_until(lambda: text_of(browser, "#send-result").startswith("Sent message"), what="sent")
    # Peeking leaves the message to consumers.
    browser.find_element(By.ID, "peek").click()
    wait_until(lambda: "sent from the console" in text_of(browser, "#peeked"), what="peeked")
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in received] == ["sent from the console"]


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("console-secure"), "--secure") as running:
        yield running


@needs_chromium
def test_secure_mode_evaluates_the_signed_in_principal(secure, browser):
    from selenium.webdriver.common.by import By

    root_key, root_secret = secure.root_keys()
    # An invented key is refused at sign-in (GetCallerIdentity), shown as AWS's error.
    browser.get(f"{secure.endpoint}/_sandlot/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    wait_until(lambda: browser.find_elements(By.ID, "sign-in"), what="the sign-in form")
    browser.find_element(By.ID, "access-key-id").send_keys("AKIAINVENTED00000000")
    browser.find_element(By.ID, "secret-access-key").send_keys("not-a-secret")
    browser.find_element(By.ID, "sign-in-button").click()
    wait_until(lambda: text_of(browser, ".error"), what="the refusal")
    assert text_of(browser, ".error").startswith("InvalidClientTokenId: ")
    assert not browser.execute_script("return sessionStorage.length")

    # An IAM user without policies signs in, and IAM denies what it may not do.
    iam = make_client(secure.endpoint, "iam", root_key, root_secret)
    iam.create_user(UserName="console-viewer")
    key = iam.create_access_key(UserName="console-viewer")["AccessKey"]
    sign_in(browser, secure.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    assert "user/console-viewer" in browser.find_element(By.ID, "identity").get_attribute("title")
    browser.find_element(By.LINK_TEXT, "Lambda").click()
    wait_until(lambda: text_of(browser, ".error"), what="the denial")
    assert text_of(browser, ".error").startswith("AccessDeniedException: ")

    # The root's key lists the functions.
    sign_in(browser, secure.endpoint, root_key, root_secret)
    browser.find_element(By.LINK_TEXT, "Lambda").click()
    wait_until(lambda: "No functions in this region." in text_of(browser, "main"), what="list")


@needs_chromium
def test_a_twelve_digit_key_names_the_account_in_dev_mode(server, browser):
    sign_in(browser, server.endpoint, key="111122223333")
    assert text_of(browser, "#identity") == "account 111122223333"


@needs_chromium
def test_dynamodb_items_page_by_page(server, browser):
    from selenium.webdriver.common.by import By

    ddb = make_client(server.endpoint, "dynamodb")
    name = unique("console-table")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])  # fmt: skip
    for n in range(60):
        item = {"pk": {"S": f"item-{n:02}"}, "n": {"N": str(n)}}
        if n == 7:
            item["note"] = {"S": HOSTILE}
        ddb.put_item(TableName=name, Item=item)
    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "DynamoDB").click()
    wait_until(lambda: browser.find_elements(By.LINK_TEXT, name), what="tables").pop().click()
    # Rows read in one script: the page replaces them when the next page arrives.
    rows = "return [...document.querySelectorAll('#items tbody tr')].map(r => r.innerText)"
    first = wait_until(lambda: browser.execute_script(rows), what="items")
    browser.find_element(By.ID, "next-page").click()
    second = wait_until(lambda: (page := browser.execute_script(rows)) != first and page)
    assert len(first) == 50 and len(second) == 10
    keys = sorted(row.split()[0] for row in first + second)
    assert keys == [f"item-{n:02}" for n in range(60)]
    assert any(HOSTILE in row for row in first + second)
    assert not browser.find_elements(By.ID, "injected")


@needs_chromium
def test_the_region_picker_scopes_the_calls(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    name = unique("console-eu")
    create_function(make_client(server.endpoint, "lambda", region="eu-west-1"), name,
                    {"app.py": "def handler(event, context):\n    return 1\n"})  # fmt: skip
    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "Lambda").click()
    wait_until(lambda: "Lambda functions (us-east-1)" in text_of(browser, "main"), what="list")
    assert not browser.find_elements(By.LINK_TEXT, name)
    Select(browser.find_element(By.ID, "region-picker")).select_by_value("eu-west-1")
    wait_until(lambda: browser.find_elements(By.LINK_TEXT, name), what="the eu-west-1 function")
