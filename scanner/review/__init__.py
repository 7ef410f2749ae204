"""The review queue on the database: reviewers, review items made from review findings and officers'
referrals, automatic assignment with leases, decisions and what they do to cases, and the views the
CLI and the web app show. The rules are ``notices.review``."""
