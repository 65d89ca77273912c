"""Before hours of training: call a model once with a tiny probe, so a missing key, an unknown model or
an unreachable server is one line naming the model, now rather than after the search."""

from __future__ import annotations

import litellm

from common.errors import InputError
from common.llm import redact
from judging import local_judges, offline
from judging.calls import CallSettings, complete
from judging.judgement import Usage

PROBE = [{"role": "user", "content": "Reply with the word OK."}]
SOURCE = "judging.panel"


def probe_model(
    model: str, api_base: str | None = None, settings: CallSettings | None = None, usage: Usage | None = None
) -> None:
    """Raise InputError(SOURCE, model, reason) unless `model` answers a one-line probe; its call, tokens and cost
    are counted into `usage` (a search counts them with its judging cost)."""
    if model.startswith(f"{offline.PROVIDER}/"):
        local_judges.register()
    settings = settings or CallSettings(api_base=api_base, timeout_seconds=30.0)
    # One short attempt: a probe that waits out retries would hide the failure it exists to find.
    settings = CallSettings(
        api_base=api_base,
        timeout_seconds=min(settings.timeout_seconds, 30.0),
        max_retries=0,
        extra=settings.extra,
    )
    try:
        provider = litellm.get_llm_provider(model=model, api_base=api_base)[1]
    except Exception:
        raise InputError(SOURCE, model, "unknown model: litellm knows no provider for this name") from None
    if provider != offline.PROVIDER and not api_base and "mock_response" not in settings.extra:
        missing = litellm.validate_environment(model=model).get("missing_keys") or []
        if missing:
            raise InputError(SOURCE, model, f"missing API key: set {', '.join(missing)}")
    try:
        complete(model, PROBE, settings, usage if usage is not None else Usage(), max_tokens=5)
    except litellm.AuthenticationError:
        raise InputError(SOURCE, model, "the provider rejected the API key") from None
    except (litellm.NotFoundError, litellm.BadRequestError) as err:
        raise InputError(SOURCE, model, f"unknown model or bad request: {_short(err)}") from None
    except (litellm.APIConnectionError, litellm.Timeout, litellm.InternalServerError) as err:
        where = f" at {api_base}" if api_base else ""
        raise InputError(SOURCE, model, f"server unreachable{where}: {_short(err)}") from None
    except Exception as err:
        raise InputError(SOURCE, model, f"probe failed: {_short(err)}") from None


def _short(err: BaseException) -> str:
    return redact(" ".join(str(err).split()))[:200]
