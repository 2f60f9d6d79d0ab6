"""Prints each SAM-built function's zipped size, as Lambda receives it: `python3 tools/zipsizes.py .aws-sam/build`."""

import io
import pathlib
import sys
import zipfile

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
functions = sorted(p for p in root.iterdir() if p.is_dir() and p.name.endswith("Function"))
if not functions:
    sys.exit(f"no built function under {root}: run `make package`")
for function in functions:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(function.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(function))
    size = sum(f.stat().st_size for f in function.rglob("*") if f.is_file())
    print(f"{function.name:32} {size:>10,} bytes, {len(buffer.getvalue()):>10,} zipped")
