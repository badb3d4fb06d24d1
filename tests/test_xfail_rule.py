"""Every xfail in the suite names the exception it expects: an xfail without `raises=` also
passes when the code under test breaks with a TypeError or an ImportError, so a broken
feature would hide behind a test that is expected to fail for another reason."""
import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _xfail_calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Attribute) and f.attr == "xfail" and isinstance(f.value, ast.Attribute)
                    and f.value.attr == "mark"):
                yield node


def test_every_xfail_names_the_exception_it_expects():
    unnamed = [f"{path.relative_to(TESTS)}:{call.lineno}"
               for path in sorted(TESTS.rglob("*.py"))
               for call in _xfail_calls(ast.parse(path.read_text(), str(path)))
               if "raises" not in {k.arg for k in call.keywords}]
    assert unnamed == [], f"xfail without raises= (name the exception the test is expected to fail with): {unnamed}"


def test_the_rule_sees_an_xfail_without_raises():
    tree = ast.parse("import pytest\n@pytest.mark.xfail(strict=True, reason='x')\ndef test_a(): pass\n"
                     "@pytest.mark.xfail(strict=True, raises=KeyError)\ndef test_b(): pass\n")
    keywords = [sorted(k.arg for k in c.keywords) for c in _xfail_calls(tree)]
    assert keywords == [["reason", "strict"], ["raises", "strict"]]
