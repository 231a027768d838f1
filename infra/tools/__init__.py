"""Development and operator tools: the dev host and its worker driver, the operator CLI, the emulator set-up.
Not deployed (.funcignore leaves infra/tools/ out), and nothing else imports them."""
