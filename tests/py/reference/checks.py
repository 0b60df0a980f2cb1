"""Named checks for the script-style tests: each is printed as it is made, and
the test ends with a failure status when any failed (ctest reads the status)."""


class Checks:
    def __init__(self, test):
        self.test = test
        self.failures = []

    def __call__(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            self.failures.append(what)
        return cond

    def status(self):
        """0 when every check passed, else 1; prints the summary."""
        if self.failures:
            print(f"{self.test}: {len(self.failures)} check(s) failed")
            return 1
        print(f"{self.test}: all checks passed")
        return 0
