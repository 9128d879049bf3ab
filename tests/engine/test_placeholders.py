"""Placeholders are data: encoded into one URL part, one argv element, never an option or a shell."""

from __future__ import annotations

import pytest

from engine.placeholders import (
    PlaceholderError,
    check_template,
    render,
    render_argv_element,
    render_url,
)

VALUES = {"service": "orders db", "incident_id": "INC-1", "labels": {"host": "db1.internal"}}


def test_values_fill_templates():
    assert render("restart {service} for {incident_id}", VALUES) == "restart orders db for INC-1"
    assert render("{labels[host]}", VALUES) == "db1.internal"


def test_url_values_are_percent_encoded_within_their_part():
    hostile = {**VALUES, "service": "../admin?x=1#"}
    assert render_url("http://{labels[host]}:8080/svc/{service}", hostile) == (
        "http://db1.internal:8080/svc/..%2Fadmin%3Fx%3D1%23"
    )


@pytest.mark.parametrize("host", ["evil.com/@x", "user@evil.com", "evil.com?", "evil.com#x", "a b", ""])
def test_a_value_in_the_host_must_be_a_host(host):
    with pytest.raises(PlaceholderError):
        render_url("http://{labels[host]}/svc", {**VALUES, "labels": {"host": host}})
    assert render_url("http://{labels[host]}/svc", {**VALUES, "labels": {"host": "[::1]:8080"}}) == (
        "http://[::1]:8080/svc"
    )


def test_argv_value_that_looks_like_an_option_is_refused():
    with pytest.raises(PlaceholderError, match="would be read as an option"):
        render_argv_element("{service}", {**VALUES, "service": "--force"})
    assert render_argv_element("--name={service}", {**VALUES, "service": "-x"}) == "--name=-x"


def test_nul_bytes_are_refused_in_argv():
    with pytest.raises(PlaceholderError, match="NUL"):
        render_argv_element("{service}", {**VALUES, "service": "a\x00b"})


def test_missing_values_fail_with_the_placeholder_named():
    with pytest.raises(PlaceholderError, match=r"\{labels\[zone\]\}: the incident has no label 'zone'"):
        render("{labels[zone]}", VALUES)
    with pytest.raises(PlaceholderError, match=r"\{source\}: the incident has no source"):
        render("{source}", VALUES)


@pytest.mark.parametrize(
    "template",
    ["{password}", "{title.__class__}", "{labels}", "{service!r}", "{service:>10}", "{0}", "{unclosed"],
)
def test_only_plain_incident_fields_are_allowed(template):
    with pytest.raises(PlaceholderError):
        check_template(template)


def test_an_empty_label_is_missing():
    with pytest.raises(PlaceholderError, match="no label 'dir'"):
        render_argv_element("/var/cache/app/{labels[dir]}", {**VALUES, "labels": {"dir": ""}})


@pytest.mark.parametrize("value", [".", ".."])
def test_a_dot_segment_cannot_climb_a_url_path(value):
    with pytest.raises(PlaceholderError, match="dot segment"):
        render_url("http://svc:8080/api/{service}/restart", {**VALUES, "service": value})
    assert render_url("http://svc/api/{service}", {**VALUES, "service": "..."}) == "http://svc/api/..."
