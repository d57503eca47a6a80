"""structrob: does a sparse neural network's graph structure predict its adversarial robustness?

Data flows one way: ``graphs -> model -> train -> attacks -> study store -> stats -> report``.
"""

__version__ = "0.1.0"
