import io
import threading
import time

from localcloud.moto.serial import SerialApp, is_long_poll


def concurrency_probe():
    state = {"inside": 0, "most": 0}
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
        time.sleep(0.02)
        with lock:
            state["inside"] -= 1
        start_response("200 OK", [])
        return [b"ok"]

    return app, state


def run_concurrently(app, environ_factory, count=8):
    threads = [
        threading.Thread(target=lambda: list(app(environ_factory(), lambda *a: None)))
        for _ in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_requests_reach_moto_one_at_a_time():
    inner, state = concurrency_probe()
    run_concurrently(SerialApp(inner), lambda: {"HTTP_X_AMZ_TARGET": "Kinesis_20131202.GetRecords"})
    assert state["most"] == 1


def test_sqs_long_polls_do_not_hold_the_lock():
    inner, state = concurrency_probe()
    run_concurrently(SerialApp(inner), lambda: {"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"})
    assert state["most"] > 1


def test_query_protocol_long_poll_is_recognised_and_its_body_kept():
    body = b"Action=ReceiveMessage&WaitTimeSeconds=1"
    environ = {
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "wsgi.input": io.BytesIO(body),
    }
    assert is_long_poll(environ)
    assert environ["wsgi.input"].read() == body
    assert not is_long_poll({"QUERY_STRING": "Action=SendMessage"})
