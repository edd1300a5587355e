"""article-qa: question answering over news articles with exact cited spans."""

import os

# Idle OpenMP threads (torch's, FAISS's) sleep instead of spinning. On 2 shared cores a spinning
# thread takes the core its partner needs: with another job running, 1,000 questions embedded at
# 2 torch threads went from 41-56/s (spinning) to 330-430/s (passive), and 1 thread did 270-320/s.
# libgomp reads this when it loads, so it is set here, before anything in qa imports torch or faiss.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
