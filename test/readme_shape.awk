# test/readme_shape.awk: checks that readme_shape.cpp holds every C++
# snippet of README.md as written, each as a run of consecutive lines
# (leading blanks aside: a fragment sits inside a wrapper).
#
#   awk -f readme_shape.awk README.md test/readme_shape.cpp

function strip(line)
{
  sub(/^[ \t]+/, "", line)
  return line
}

FNR == NR {
  if (in_block && /^[ \t]*```/) {
    in_block = 0
    ++blocks
    next
  }
  if (in_block)
    snippet[blocks] = snippet[blocks] strip($0) "\n"
  else if (/^[ \t]*```cpp/) {
    in_block = 1
    first[blocks] = FNR
  }
  next
}

{ test = test strip($0) "\n" }

END {
  bad = 0
  for (i = 0; i < blocks; ++i)
    if (index(test, snippet[i]) == 0) {
      printf "README.md:%d: the snippet there is not in %s as written\n",
        first[i], FILENAME
      bad = 1
    }
  printf "%d snippets checked\n", blocks
  exit bad
}
