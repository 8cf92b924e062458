"""Packing: compression chosen by measurement, and a spool read while it is written."""
import os
import threading

from rds_ssh.pack import Codec, Spool, choose_codec


def test_it_compresses_what_compresses():
    text = b"".join(b"def handler_%d(request): return render(request, 'page.html')\n" % i
                    for i in range(20000))
    measured = choose_codec(text, servers=4, zstd_on_server=True)
    assert measured.codec is Codec.ZSTD and measured.ratio < 0.3


def test_it_falls_back_to_gzip_without_zstd_on_the_server():
    text = b"".join(b"<li>item %d</li>\n" % i for i in range(50000))
    assert choose_codec(text, servers=4, zstd_on_server=False).codec is Codec.GZIP


def test_it_sends_random_bytes_as_they_are():
    assert choose_codec(os.urandom(2 * 1024 * 1024), servers=20,
                        zstd_on_server=True).codec is Codec.NONE


def test_readers_get_the_spool_while_it_is_written(tmp_path):
    spool = Spool(str(tmp_path / "pack"))
    first_read = threading.Event()
    received = []

    def reader():
        for chunk in spool.chunks():
            received.append(chunk)
            first_read.set()

    thread = threading.Thread(target=reader)
    thread.start()
    spool.append(b"a" * 1000)
    assert first_read.wait(10)  # got the first part before the producer finished
    assert spool.size is None
    spool.append(b"b" * 10)
    spool.finish()
    thread.join(10)
    assert b"".join(received) == b"a" * 1000 + b"b" * 10
    assert spool.size == 1010
    assert b"".join(spool.chunks()) == b"a" * 1000 + b"b" * 10  # a late reader reads it all


def test_a_packing_error_reaches_every_reader(tmp_path):
    spool = Spool(str(tmp_path / "pack"))
    spool.append(b"x")
    spool.finish(OSError("disk full"))
    try:
        list(spool.chunks())
    except OSError as exc:
        assert "disk full" in str(exc)
    else:
        raise AssertionError("no error")
