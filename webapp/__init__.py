"""The Django web app: a lab bench comparing ICL, SFT and IA2 in the browser."""
