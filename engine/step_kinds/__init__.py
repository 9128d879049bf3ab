"""One module per step kind, each with its runbooks.yml schema and its executor together (http,
command, wait, log), and what they share (base.py). A new kind is a module here, a field on
`Action` (engine/runbooks.py) and a case in `prepare` (engine/steps.py)."""
