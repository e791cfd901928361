"""Presets: formats by name (GoAccess's names where it has them), each one data.

A text preset is a format string (Apache syntax, or hitwatch's notation of
`formats.compiler` where Apache's cannot say it: an optional `:port`, the
sum of three durations); a JSON preset is a field mapping
(`formats.jsonlines`); the W3C ones take their fields from the log's
`#Fields:` lines. `docs/formats.md` says how to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from hitwatch.formats.compiler import compile_format, compile_notation
from hitwatch.formats.describe import Description
from hitwatch.formats.jsonlines import JsonFormat, parse_mapping
from hitwatch.formats.text import TextFormat
from hitwatch.formats.w3c import CLOUDFRONT_FIELDS, IIS_FIELDS, W3cFormat

FullFormat = TextFormat | JsonFormat | W3cFormat


class Preset(NamedTuple):
    name: str
    kind: str  # apache, notation, json, w3c
    spec: str  # the format string, mapping or default #Fields
    shape: str  # one line for --help and `hitwatch formats`
    example: tuple[str, ...]  # our own lines of this shape


_TIME = "[14/Nov/2023:22:13:20 +0000]"
_REQ = '"GET /api/user?id=7 HTTP/1.1"'

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "common",
            "apache",
            '%h %l %u %t "%r" %>s %b',
            "Apache/nginx Common Log Format",
            (f"10.0.0.1 - - {_TIME} {_REQ} 200 1234",),
        ),
        Preset(
            "vcommon",
            "notation",
            '{vhost:port} {host} {skip} {skip} [{time}] "{request}" {status} {bytes}',
            "virtual host (and :port), then Common Log Format",
            (f"www.example.com:443 10.0.0.1 - - {_TIME} {_REQ} 200 1234",),
        ),
        Preset(
            "vcombined",
            "notation",
            '{vhost:port} {host} {skip} {skip} [{time}] "{request}" {status} {bytes} '
            '"{skip}" "{skip}"',
            "virtual host (and :port), then Combined",
            (
                f"www.example.com:443 10.0.0.1 - - {_TIME} {_REQ} 200 1234 "
                '"https://www.example.com/" "curl/8.4.0"',
            ),
        ),
        Preset(
            "traefik-clf",
            "notation",
            '{host} - {skip} [{time}] "{request}" {status} {bytes} "{skip}" "{skip}" '
            '{skip} "{skip}" "{skip}" {duration:ms}ms',
            "Traefik's CLF: Combined + requests, router, server URL, duration",
            (
                f'10.0.0.1 - - {_TIME} {_REQ} 200 1234 "-" "curl/8.4.0" 42 "web@docker" '
                '"http://172.18.0.3:80" 12ms',
            ),
        ),
        Preset(
            "caddy",
            "json",
            "time=ts,host=request.client_ip|request.remote_ip,method=request.method,"
            "path=request.uri,status=status,bytes=size,duration=duration,"
            "vhost=request.host,xff=request.headers.X-Forwarded-For",
            "Caddy's JSON access log",
            (
                '{"level":"info","ts":1700000000.25,"logger":"http.log.access",'
                '"msg":"handled request","request":{"remote_ip":"10.0.0.1",'
                '"client_ip":"10.0.0.1","proto":"HTTP/1.1","method":"GET",'
                '"host":"www.example.com","uri":"/api/user?id=7"},"duration":0.0042,'
                '"size":1234,"status":200}',
            ),
        ),
        Preset(
            "traefik-json",
            "json",
            "time=StartUTC|time,host=ClientHost,method=RequestMethod,path=RequestPath,"
            "status=DownstreamStatus|OriginStatus,bytes=DownstreamContentSize,"
            "duration:ns=Duration,vhost=RequestHost,xff=request_X-Forwarded-For",
            "Traefik's JSON access log",
            (
                '{"ClientHost":"10.0.0.1","DownstreamContentSize":1234,'
                '"DownstreamStatus":200,"Duration":4200000,"RequestHost":"www.example.com",'
                '"RequestMethod":"GET","RequestPath":"/api/user?id=7",'
                '"StartUTC":"2023-11-14T22:13:20.25Z"}',
            ),
        ),
        Preset(
            "w3c",
            "w3c",
            IIS_FIELDS,
            "W3C extended (IIS): fields from the #Fields: lines, time-taken in ms",
            (
                "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port "
                "cs-username c-ip cs(User-Agent) sc-status sc-bytes time-taken",
                "2023-11-14 22:13:20 10.0.0.2 GET /api/user id=7 443 - 10.0.0.1 "
                "curl/8.4.0 200 1234 42",
            ),
        ),
        Preset(
            "cloudfront",
            "w3c",
            CLOUDFRONT_FIELDS,
            "Amazon CloudFront standard logs (W3C, tab-separated)",
            (
                "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) "
                "cs-uri-stem sc-status time-taken",
                "2023-11-14\t22:13:20\tFRA2-C1\t1234\t10.0.0.1\tGET\t"
                "d111111abcdef8.cloudfront.net\t/api/user\t200\t0.004",
            ),
        ),
        Preset(
            "aws-elb",
            "notation",
            "{time:iso8601} {skip} {host:port} {skip} {duration:s} {duration:s} {duration:s} "
            '{status} {skip} {skip} {bytes} "{request}"',
            "AWS Classic Load Balancer; duration: the three processing times",
            (
                "2023-11-14T22:13:20.250000Z my-elb 10.0.0.1:52100 10.0.1.5:80 0.000040 "
                '0.004200 0.000030 200 200 0 1234 "GET https://www.example.com:443/api/user '
                'HTTP/1.1" "curl/8.4.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2',
            ),
        ),
        Preset(
            "aws-alb",
            "notation",
            "{skip} {time:iso8601} {skip} {host:port} {skip} {duration:s} {duration:s} "
            '{duration:s} {status} {skip} {skip} {bytes} "{request}" "{skip}" {skip} {skip} '
            '{skip} "{skip}" "{vhost}"',
            "AWS Application Load Balancer; duration: the three processing times",
            (
                "https 2023-11-14T22:13:20.250000Z app/my-alb/50dc6c495c0c9188 10.0.0.1:52100 "
                '10.0.1.5:80 0.001 0.004 0.000 200 200 34 1234 "GET '
                'https://www.example.com:443/api/user HTTP/1.1" "curl/8.4.0" '
                "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-west-1:"
                '123456789012:targetgroup/web/73e2d6bc24d8a067 "Root=1-6553f0d0-0123456789abcdef" '
                '"www.example.com" "-" 0 2023-11-14T22:13:20.245000Z "forward" "-" "-" '
                '"10.0.1.5:80" "200" "-" "-"',
            ),
        ),
        Preset(
            "haproxy",
            "notation",
            "{skip}]: {host:port} [{time:%d/%b/%Y:%H:%M:%S.%f}] {skip} {skip} "
            # Then cookies, termination state, connections, queues and any
            # captured headers ({...}, where HAProxy writes " as #22): skipped
            # up to the request's opening quote.
            '{skip}/{skip}/{skip}/{skip}/{duration:ms} {status} {bytes} {skip}"{request}"',
            "HAProxy's HTTP log format through syslog; duration: Ta",
            (
                "Nov 14 22:13:20 lb1 haproxy[2101]: 10.0.0.1:52100 [14/Nov/2023:22:13:20.250] "
                'www~ app/web1 0/0/1/3/4 200 1234 - - ---- 12/12/1/1/0 0/0 "GET /api/user '
                'HTTP/1.1"',
            ),
        ),
    )
}


def description(preset: Preset) -> Description:
    """The description of a text preset."""
    if preset.kind == "apache":
        return compile_format(preset.spec)
    return compile_notation(preset.spec)


def maker(name: str, xff: bool = False) -> Callable[[], FullFormat]:
    """What makes a fresh parser of preset `name`."""
    preset = PRESETS[name]
    if preset.kind == "json":
        mapping = parse_mapping(preset.spec)
        return lambda: JsonFormat(name, mapping, xff)
    if preset.kind == "w3c":
        sep, unit = ("\t", "s") if name == "cloudfront" else (" ", "ms")
        return lambda: W3cFormat(name, preset.spec, sep, unit, xff)
    desc = description(preset)
    return lambda: TextFormat(name, desc, xff)
