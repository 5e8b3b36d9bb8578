"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class FsbbtError(Exception):
    """A problem with the user's input or environment, phrased as "what is wrong; how to fix it".

    Anything raised as FsbbtError is expected and explained; any other exception is a bug
    and keeps its traceback.
    """
