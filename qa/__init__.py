"""article-qa: question answering over news articles with exact cited spans."""

import os

# Idle OpenMP threads (torch's, FAISS's) sleep instead of spinning. On 2 shared cores a spinning
# thread takes the core its partner needs: with another job running, 1,000 questions embedded at
# 2 torch threads went from 41-56/s (spinning) to 330-430/s (passive), and 1 thread did 270-320/s.
# libgomp reads this when it loads, so it is set here, before anything in qa imports torch or faiss.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# One OpenMP thread in every thread, not only the one that calls `omp_set_num_threads`: libgomp keeps
# that setting per thread, so the server's request threads searched FAISS with a 2-thread team (31
# against 10 us, and on a busy core a wait for the second thread). Parallelism is ours: threads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

__version__ = "0.1.0"
