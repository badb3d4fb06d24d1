"""Sign-in lockout that cannot be used as a weapon (django-axes handler, settings.AXES_HANDLER).

axes locked a username after AXES_FAILURE_LIMIT failures from anywhere: anyone could lock
any account, an admin's included, by guessing wrong five times (issue 22, item 14). Here
failures count per (username, address) pair, so a flood from elsewhere leaves the owner's
own address free, and per address over all usernames with a higher ceiling
(LAB_LOGIN_ADDRESS_FAILURES), so one address cannot spray passwords over every account.
Both counts keep axes' cool-off (AXES_COOLOFF_TIME). A successful sign-in clears only its
own pair: signing into one's own account does not reset an address's spray count."""
from django.conf import settings
from django.db.models import Sum

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt


def _failures(attempts):
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


class PairLockoutHandler(AxesDatabaseHandler):
    def _pair(self, request, credentials):
        return AccessAttempt.objects.filter(username=get_client_username(request, credentials),
                                            ip_address=request.axes_ip_address)

    def get_failures(self, request, credentials=None):
        """The pair's failures, or the address's scaled to the same limit: axes compares this
        one number with AXES_FAILURE_LIMIT, and the address reaches it at its own ceiling."""
        recent = {}
        if settings.AXES_COOLOFF_TIME is not None:
            recent["attempt_time__gte"] = get_cool_off_threshold(request)
        pair = _failures(self._pair(request, credentials).filter(**recent))
        address = _failures(AccessAttempt.objects.filter(ip_address=request.axes_ip_address, **recent))
        limit = get_failure_limit(request, credentials)
        return max(pair, address * limit // max(1, settings.LAB_LOGIN_ADDRESS_FAILURES))

    def reset_user_attempts(self, request, credentials=None):
        count, _ = self._pair(request, credentials).delete()
        return count
