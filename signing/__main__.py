"""`python -m signing validate FILE.pdf [--trust CA.pem ...] [--crl X.crl ...]`: the validation
report as one JSON object on stdout, for operators and scripts.

Validation runs in a limited child process (signing.isolation), as it does in the app.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cryptography import x509

EXIT_CODES = {"VALID": 0, "INVALID": 1, "REVIEW": 2, "INDETERMINATE": 2, "UNSIGNED": 2}
EXIT_CANNOT_RUN = 3

_EPILOG = """\
The report is one JSON object; its "verdict" key holds VALID, REVIEW, INVALID, INDETERMINATE or
UNSIGNED, its "reasons" key stable reason codes, "signatures" one entry per signature.

exit status:
  0  VALID: every signature intact, valid, covering its revision, nothing unexplained after
     it, chain reaching a --trust root
  1  INVALID
  2  REVIEW, INDETERMINATE or UNSIGNED: not decided automatically; read "verdict" and "reasons"
  3  could not run: unreadable file, bad certificate or CRL file, bad arguments
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own status (2) would read as a verdict
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_CANNOT_RUN)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m signing", description="Diwan's PDF signature tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    validate = commands.add_parser(
        "validate",
        help="validate the signatures of a PDF and print the report as JSON",
        description="Validate every signature of a PDF with a strict verdict.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("file", type=Path, help="the PDF to validate")
    validate.add_argument(
        "--trust",
        action="append",
        default=[],
        type=Path,
        metavar="CA.pem",
        help="a trusted root certificate (PEM, may hold several, or DER); repeatable",
    )
    validate.add_argument(
        "--crl",
        action="append",
        default=[],
        type=Path,
        metavar="X.crl",
        help="a certificate revocation list (PEM or DER); repeatable",
    )
    validate.add_argument(
        "--timeout", type=float, default=20.0, help="seconds before giving up (default 20)"
    )
    return parser


class _CannotRun(Exception):
    pass


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _CannotRun(f"cannot read {path}: {exc.strerror or exc}") from exc


def _certificates(path: Path) -> list[x509.Certificate]:
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise _CannotRun(f"{path} is not a certificate (PEM or DER)") from exc


def _crl(path: Path) -> x509.CertificateRevocationList:
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise _CannotRun(f"{path} is not a CRL (PEM or DER)") from exc


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        pdf = _read(args.file)
        roots = [c for path in args.trust for c in _certificates(path)]
        crls = [_crl(path) for path in args.crl]
        if args.timeout <= 0:
            raise _CannotRun("--timeout must be positive")
    except _CannotRun as exc:
        print(f"python -m signing validate: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN

    from signing.isolation import set_pool_size, validate_isolated

    set_pool_size(0)  # one file, one child: nothing to keep warm
    report = validate_isolated(pdf, trust_roots=roots, crls=crls, timeout=args.timeout)
    sys.stdout.buffer.write(json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"))
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
    return EXIT_CODES[report["verdict"]]


if __name__ == "__main__":
    sys.exit(main())
