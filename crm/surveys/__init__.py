"""满意度: the T7 survey's six dimensions analysed (mean, top-2 and bottom-2 box with n, over time
and per segment, owner and region), the lowest-scoring customers, and a follow-up for the owner
of every response that scores a dimension low."""
