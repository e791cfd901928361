"""Builds the optional compiled kernel (hitwatch.native._kernel).

Metadata lives in pyproject.toml; this file only adds the C extension. When
no C compiler is available, or the build fails for any other reason, the
package installs without it and `--engine auto` uses the pure-Python engine.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the kernel cannot be built."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any failure means "no kernel"
            self._skip(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    @staticmethod
    def _skip(exc: BaseException) -> None:
        print(
            f"warning: hitwatch's compiled kernel was not built ({exc}); "
            "the pure-Python engine will be used",
            file=sys.stderr,
        )


def _flags() -> list[str]:
    if os.name == "nt":
        return ["/O2"]
    return ["-O3", "-std=c11", "-fno-strict-aliasing"]


setup(
    ext_modules=[
        Extension(
            "hitwatch.native._kernel",
            sources=["src/hitwatch/native/_kernel.c"],
            depends=[
                "src/hitwatch/native/describe.h",
                "src/hitwatch/native/describe_duration.h",
                "src/hitwatch/native/describe_line.h",
                "src/hitwatch/native/describe_load.h",
                "src/hitwatch/native/describe_strftime.h",
                "src/hitwatch/native/kernel_core.h",
                "src/hitwatch/native/kernel_export.h",
                "src/hitwatch/native/kernel_feed.h",
                "src/hitwatch/native/kernel_rank.h",
                "src/hitwatch/native/kernel_tally.h",
                "src/hitwatch/native/parse.h",
                "src/hitwatch/native/parse_base.h",
                "src/hitwatch/native/parse_clf.h",
                "src/hitwatch/native/parse_csv.h",
                "src/hitwatch/native/parse_request.h",
                "src/hitwatch/native/parse_time.h",
                "src/hitwatch/native/py_kernel_methods.h",
                "src/hitwatch/native/py_records.h",
                "src/hitwatch/native/py_result.h",
                "src/hitwatch/native/reader.h",
                "src/hitwatch/native/reader_consumer.h",
                "src/hitwatch/native/reader_io.h",
                "src/hitwatch/native/reader_worker.h",
                "src/hitwatch/native/record_log.h",
                "src/hitwatch/native/unicode.h",
            ],
            extra_compile_args=_flags(),
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
