"""Accounts of the people who use the admin: roles and what each may do (`roles`), password
hashing (`passwords`), TOTP and recovery codes (`totp`), session lifetimes (`sessions`) and
login throttling (`throttle`) are pure rules; `service` (user management) and `login`
(authentication and sessions) apply them to the database (storage/account_store.py).
"""
