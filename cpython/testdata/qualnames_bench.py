"""Target process for BenchmarkQualnameIndexLive (CPython 3.8+).

It imports a large part of the standard library, so that sys.modules looks
like a real application's, prints one JSON line with sys.version_info[:3]
and the number of modules, and blocks until stdin is closed.
"""
import importlib
import json
import sys

MODULES = """
abc argparse ast asyncio base64 bdb binascii bisect bz2 calendar cmd code
codecs codeop collections colorsys concurrent.futures configparser contextlib
contextvars copy copyreg csv ctypes dataclasses datetime decimal difflib dis
doctest email email.mime.text email.parser email.policy enum filecmp fileinput
fnmatch fractions ftplib functools gettext glob graphlib gzip hashlib heapq
hmac html html.parser http http.client http.cookiejar http.cookies http.server
imaplib importlib importlib.metadata importlib.resources inspect io ipaddress
itertools json keyword linecache locale logging logging.config logging.handlers
lzma mailbox mimetypes modulefinder multiprocessing multiprocessing.pool
netrc numbers operator optparse os pathlib pdb pickle pickletools pkgutil
platform plistlib poplib pprint profile pstats py_compile pydoc queue quopri
random re reprlib rlcompleter runpy sched secrets selectors shelve shlex
shutil signal smtplib socket socketserver sqlite3 ssl stat statistics string
stringprep struct subprocess symtable sysconfig tabnanny tarfile tempfile
textwrap threading timeit token tokenize trace traceback tracemalloc types
typing unittest unittest.mock urllib urllib.parse urllib.request uuid venv
warnings wave weakref webbrowser wsgiref.simple_server xml.dom.minidom
xml.etree.ElementTree xml.sax xmlrpc.client xmlrpc.server zipapp zipfile
zipimport zlib
""".split()

for name in MODULES:
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # not built into this interpreter (_ssl, _sqlite3, ...)

print(json.dumps({"version": list(sys.version_info[:3]), "modules": len(sys.modules)}), flush=True)
sys.stdin.read()
