"""lr-order: regenerate and check Li, Wei & Ma (NeurIPS 2019), arXiv 1907.04595.

"Towards Explaining the Regularization Effect of Initial Large Learning Rate
in Training Neural Networks". Every step of the Snakemake workflow is one
``python -m lrorder.<step>`` entry point of this package.
"""

__version__ = "0.1.0"
