"""Referral intake: the system of record. Accepts referrals from the upstream UI, keeps
personal data in its vault, publishes coded facts for the router, and follows each route
to its outcome."""
