"""The review web app (``realname serve``): server-rendered pages for reviewers and officers on Flask,
sign-in with Flask-Login over server-side sessions, CSRF protection from Flask-WTF, argon2id passwords
(``scanner.review.reviewers``). The queue's work is ``scanner.review``; this package is the web wiring."""
