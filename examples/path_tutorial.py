"""Tutorial 1.5, "Path manage tools": local paths, remote URLs, redirects, a custom handler.

Offline: remote URLs are served by the server at ``$EASYCORE_DEMO_URL`` (the tour starts
one), or, when that is unset, by an http.server this script starts on 127.0.0.1 at a
free port. It serves ``/yyy.txt`` and ``/download/yyy/zzz.txt``, standing in for the
tutorial's ``http://xxx.com``. ``$EASYCORE_CACHE`` and ``$NEW_CACHE`` default to
temporary folders, so nothing is written to your home directory.

    python examples/path_tutorial.py
"""

from __future__ import annotations

import functools
import http.server
import os
import sys
import tempfile
import threading
import warnings

from easycore.common.path import (
    HTTPURLHandler,
    PathManager,
    RedirectPathHandler,
    UnknownProtocolError,
)


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="easycore-path-tutorial-")
    os.environ.setdefault("EASYCORE_CACHE", os.path.join(workdir, "cache"))
    os.environ.setdefault("NEW_CACHE", os.path.join(workdir, "new-cache"))
    base_url = os.environ.get("EASYCORE_DEMO_URL") or _serve_files(os.path.join(workdir, "www"))
    print(f"remote files from {base_url}, cache in {os.environ['EASYCORE_CACHE']}")

    manage_local_paths(os.path.join(workdir, "local"))
    manage_remote_url(base_url, os.path.join(workdir, "copies"))
    redirect_paths(base_url, os.path.join(workdir, "datasets"))
    custom_path_handler(base_url)
    print("done")
    return 0


def manage_local_paths(root: str) -> None:
    print("\n1.5.1 Manage local path")
    path_to_file = os.path.join(root, "path", "to", "file")
    path_to_dir = os.path.join(root, "path", "to", "dir")
    PathManager.makedirs(os.path.dirname(path_to_file))
    with PathManager.open(path_to_file, "w", encoding="utf-8") as f:
        f.write("hello from a local file\n")

    with PathManager.open(path_to_file, "r", encoding="utf-8") as f:
        print("  open ->", f.read().strip())
    print("  exists(file) ->", PathManager.exists(path_to_file))
    print("  isfile(file) ->", PathManager.isfile(path_to_file))
    PathManager.makedirs(path_to_dir)
    print("  isdir(dir) after makedirs ->", PathManager.isdir(path_to_dir))
    print("  listdir(path/to) ->", PathManager.listdir(os.path.dirname(path_to_dir)))
    destination = os.path.join(root, "destination", "path")
    print("  copy(file, destination) ->", PathManager.copy(path_to_file, destination))
    print("  copy again, no overwrite ->", PathManager.copy(path_to_file, destination))
    PathManager.remove(path_to_file)
    print("  exists(file) after remove ->", PathManager.exists(path_to_file))
    PathManager.removedirs(path_to_dir)
    print("  path/ after removedirs(dir) ->", PathManager.exists(os.path.join(root, "path")))
    try:
        PathManager.remove(os.path.join(root, "destination"))
    except IsADirectoryError as err:
        print("  remove(a directory) ->", type(err).__name__, err.strerror)


def manage_remote_url(base_url: str, root: str) -> None:
    print("\n1.5.2 Manage remote URL")
    url = f"{base_url}/yyy.txt"
    with PathManager.open(url, "r", encoding="utf-8") as f:
        print(f"  open({url}) ->", f.read().strip())
    local_path = PathManager.get_local_path(url)
    print("  get_local_path ->", local_path)
    print("  exists(url) ->", PathManager.exists(url))
    print("  exists(missing url) ->", PathManager.exists(f"{base_url}/no-such-file.txt"))
    destination = os.path.join(root, "a", "local", "path")
    print("  copy(url, a/local/path) ->", PathManager.copy(url, destination))
    with open(destination, encoding="utf-8") as f:
        print("  a/local/path holds ->", f.read().strip())


def redirect_paths(base_url: str, root: str) -> None:
    print("\n1.5.3 Redirect path")
    PathManager.register(RedirectPathHandler("easycore://", f"{base_url}/download/"))
    with PathManager.open("easycore://yyy/zzz.txt", encoding="utf-8") as f:
        print("  easycore://yyy/zzz.txt ->", f.read().strip())

    local_dir = os.path.join(root, "dir")
    PathManager.register(RedirectPathHandler("file://", local_dir + os.sep))
    PathManager.makedirs("file://notes")
    with PathManager.open("file://notes/a.txt", "w", encoding="utf-8") as f:
        f.write("written through file://")
    print("  file://notes/a.txt is", os.path.join(local_dir, "notes", "a.txt"))
    print("  listdir(file://notes) ->", PathManager.listdir("file://notes"))

    for name in ("MNIST", "CIFAR100", "ImageNet"):
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "labels.txt"), "w", encoding="utf-8") as f:
            f.write(f"{name} labels")
        PathManager.register(RedirectPathHandler(f"dataset://{name}/", folder + os.sep))
    with PathManager.open("dataset://CIFAR100/labels.txt", encoding="utf-8") as f:
        print("  dataset://CIFAR100/labels.txt ->", f.read())
    try:
        PathManager.open("datset://MNIST/labels.txt")
    except UnknownProtocolError as err:
        print("  a typo in the prefix ->", type(err).__name__, str(err).split(" Register")[0])


def custom_path_handler(base_url: str) -> None:
    print("\n1.5.4 Custom PathHandler")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        # custom PathHandler, as written in the tutorial
        class NewHTTPURLHandler(HTTPURLHandler):
            def get_cache_dir(self, protocol):  # type: ignore[no-untyped-def, override]
                cache_dir = os.path.expanduser(os.getenv("NEW_CACHE", "~/.easycore/cache"))
                if protocol is not None:
                    cache_dir = os.path.join(cache_dir, protocol)
                return cache_dir

            def get_support_prefixes(self):  # type: ignore[no-untyped-def]
                return ["http://", "https://"]

    for warning in caught:
        print(f"  {warning.category.__name__}: {warning.message}")
    # register custom path handler; override=True replaces the http and https handler
    PathManager.register(NewHTTPURLHandler(), override=True)
    local_path = PathManager.get_local_path(f"{base_url}/yyy.txt")
    print("  get_local_path now caches under $NEW_CACHE ->", local_path)
    if not local_path.startswith(os.environ["NEW_CACHE"]):
        raise RuntimeError(f"{local_path} is not under $NEW_CACHE")


def _serve_files(root: str) -> str:
    """Serve the tutorial's remote files from ``root`` on 127.0.0.1; return the base URL."""
    os.makedirs(os.path.join(root, "download", "yyy"))
    with open(os.path.join(root, "yyy.txt"), "w", encoding="utf-8") as f:
        f.write("hello from yyy.txt, served locally\n")
    with open(os.path.join(root, "download", "yyy", "zzz.txt"), "w", encoding="utf-8") as f:
        f.write("zzz.txt behind a redirect\n")
    handler = functools.partial(_QuietHandler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
